"""Whether a person must answer, which section, and why: learned from the corpus labels, plus explicit requests.

Three linear models on the intent classifier's features: a calibrated yes/no
"needs a person" (Platt-scaled on cross-validated margins), the section whose
work a message is (legal, finance, it, operations, ...; learned from every
example: the labelled queue of held-back ones, the topic's section of the
others) and the short reason code of held-back ones. The labels are the corpus's ``standard``/``queue``/``hold_reason``, to
which staff reassignments can be added (see ``training.holdback_examples``).
Only explicit requests are rules: the sender asks for a person, or says they
want no automatic reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from classifiers.calibration import calibration_holdout
from classifiers.parallel import training_workers
from classifiers.textnorm import fold

# One human sentence per reason code, shown to staff as the decision's reason.
REASONS: dict[str, str] = {
    "dispute": "A dispute between holders or over ownership: a lawyer of the {queue} section answers it.",
    "insolvency": "An insolvency administrator, liquidator or bankrupt holder is involved: the {queue} section answers it.",
    "third_party_proceedings": "Invalidity or other proceedings against a third party's registration: the {queue} section answers it.",
    "formal_notice": "A formal notice, claim or court document addressed to the office: the {queue} section answers it.",
    "payment_dispute": "The sender disputes a charge or a refusal to refund: the {queue} section answers it.",
    "technical_fault": "A technical fault the standard answers cannot fix: the {queue} section looks into it.",
    "asked_for_person": "The sender asks to speak to or be called by a person.",
    "no_automatic_reply": "The sender asks for no automatic or standard reply: a person answers.",
    "deadline_at_risk": "A time limit is at risk: a person of the {queue} section acts on it now.",
    "complaint": "A complaint or escalation: the {queue} section answers it.",
    "low_confidence": "Unclear what is asked (best guess {intent} at {confidence}): a person of the {queue} section reads it.",
    "no_template": "No standard answer fits this request: the {queue} section handles it.",
    "unsupported_language": "Written outside the working languages: translation first.",
    "empty": "No text to answer: a person looks at it.",
    "automated": "Automatic reply, bounce or list mail: nobody answers it.",
}
HOLD_REASONS = tuple(REASONS)
NO_TEMPLATE = "no_template"
EXPLICIT_REASONS = frozenset({"asked_for_person", "no_automatic_reply"})
# The section some reasons always belong to; the others go to the section the learned model picks.
REASON_SECTIONS: dict[str, str] = {
    "dispute": "legal", "insolvency": "legal", "third_party_proceedings": "legal", "formal_notice": "legal",
    "payment_dispute": "finance", "technical_fault": "it",
    "asked_for_person": "customer_service", "no_automatic_reply": "customer_service",
}

_PERSON = [
    r"\b(call|phone|ring) me\b", r"\b(speak|talk) (to|with) (a |an |one of )?(real |actual )?(person|human|someone|somebody|member of staff|colleague)",
    r"\bcould (someone|somebody|one of your (staff|colleagues)) (call|phone|contact)", r"\ba human( being)?\b", r"\bcall-?back\b",
    r"\bappointment with\b", r"\b(telephone|phone) call with\b", r"\bdirect (number|line)\b",
    r"\b(m'|me )(appeler|telephoner|rappeler)\b", r"\bparler (a|avec) (une (vraie )?personne|quelqu'un|un collaborateur)",
    r"\bun humain\b", r"\bentretien telephonique\b", r"\brendez-vous avec\b", r"\bnumero direct\b", r"\bde vive voix\b",
    r"\b(llamarme|llameme|llamenme)\b", r"\bhablar con (una persona|alguien)", r"\buna persona,? por favor\b",
    r"\b(pedir )?cita con\b", r"\bllamada con\b", r"\btelefono directo\b", r"\bde viva voz\b",
]
_NO_AUTOMATIC = [
    r"\b(do not|don't|dont) (want|send)( me)? (an? )?(another |the )?(automatic|automated|canned|standard|template)",
    r"\bno (auto-?replies|automatic (reply|answer)|bot answers|automated (reply|response|answers?)|templates?)\b",
    r"\brather than an automated\b", r"\bnot (a|another) (template|standard (text|reply))\b", r"\bpersonal answer\b",
    r"\bpas (de|d'une) (reponse|message) (automatique|type)\b", r"\bne veux pas (de|d'un|d'une) (reponse|autre modele|modele)",
    r"\bpas de modele\b", r"\bplutot qu'un message automatique\b", r"\breponse personnalisee\b", r"\bne pas m'envoyer (a nouveau )?le texte standard",
    r"\bno (queremos|quiero) (una |otra )?(respuesta automatica|plantilla|texto estandar)", r"\bsin (respuestas automaticas|plantilla)\b",
    r"\bno (me )?envien otra vez el texto estandar\b", r"\brespuesta personalizada\b", r"\bno un mensaje automatico\b",
]
_PERSON_PATTERN = re.compile("|".join(_PERSON))
_NO_AUTOMATIC_PATTERN = re.compile("|".join(_NO_AUTOMATIC))


def explicit_request(text: str) -> str | None:
    """``asked_for_person`` or ``no_automatic_reply`` when the sender explicitly asks for it, else None."""
    folded = " ".join(fold(text).split())
    if _NO_AUTOMATIC_PATTERN.search(folded):
        return "no_automatic_reply"
    if _PERSON_PATTERN.search(folded):
        return "asked_for_person"
    return None


def reason_sentence(code: str, queue: str, intent: str = "", confidence: float = 0.0) -> str:
    """The human sentence for a hold-back reason code."""
    template = REASONS.get(code, "Held back ({code}): the {queue} section handles it.")
    return template.format(queue=queue, intent=intent or "none", confidence=f"{confidence:.2f}", code=code)


@dataclass(frozen=True)
class HoldBack:
    """Whether one message needs a person, with the probability, the likely section and reason."""

    probability: float
    queue: str
    queue_probability: float
    reason: str
    reason_probability: float = 1.0


def _platt(margins: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    model = LogisticRegression(C=100.0, max_iter=1000).fit(margins.reshape(-1, 1), truth)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _multiclass(features: sp.csr_matrix, labels: Sequence[str], C: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes, weights and intercepts of a one-vs-rest linear SVM (one row per class, also with two classes)."""
    classes = np.asarray(sorted(set(labels)))
    if len(classes) == 1:
        return classes, np.zeros((1, features.shape[1]), dtype=np.float32), np.zeros(1)
    model = LinearSVC(C=C, class_weight="balanced", random_state=seed).fit(features, list(labels))
    coef, intercept = np.asarray(model.coef_, dtype=np.float32), np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return classes, coef, intercept


class HoldBackClassifier(ClassifierMixin, BaseEstimator):
    """Needs-a-person probability, section and reason of a message, from precomputed text features."""

    def __init__(self, *, C: float = 0.5, section_C: float = 0.5, folds: int = 5, threshold: float = 0.5,
                 calibration_holdout: float | None = None, random_state: int = 0) -> None:
        self.C = C
        self.threshold = threshold
        self.section_C = section_C
        self.folds = folds
        self.calibration_holdout = calibration_holdout  # a share: one fit on the rest, calibrated on it (no folds)
        self.random_state = random_state

    def fit(self, features: sp.csr_matrix, standard: Sequence[bool], queues: Sequence[str],
            reasons: Sequence[str | None]) -> "HoldBackClassifier":
        """Learn from feature rows: whether each was standard, the section whose work each is, and why held-back ones were."""
        held = ~np.asarray(standard, dtype=bool)
        if features.shape[0] != len(held) or len(queues) != len(held) or len(reasons) != len(held):
            raise ValueError("features, standard, queues and reasons must have one entry per example")
        if min(held.sum(), (~held).sum()) < self.folds:
            raise ValueError(f"need at least {self.folds} standard and {self.folds} held-back examples")
        svm = LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state)
        if self.calibration_holdout:
            fit, aside = calibration_holdout(len(held), self.calibration_holdout, self.random_state, held)
            svm.fit(features[fit], held[fit])
            self.slope_, self.offset_ = _platt(svm.decision_function(features[aside]), held[aside])
        else:
            cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.random_state)
            with parallel_config(backend="threading", n_jobs=training_workers()):  # liblinear releases the GIL
                margins = cross_val_predict(svm, features, held, cv=cv, method="decision_function")
            self.slope_, self.offset_ = _platt(np.asarray(margins), held)
            svm.fit(features, held)
        self.coef_ = np.asarray(svm.coef_[0], dtype=np.float32)
        self.intercept_ = float(svm.intercept_[0])
        self.queues_, self.queue_coef_, self.queue_intercept_ = _multiclass(
            features, list(queues), self.section_C, self.random_state)
        # The reasons are learned from the held-back examples that have a specific one: "no standard answer fits"
        # is what is left when none of them is recognised (a class of everything else would outweigh a rare reason).
        rows = np.flatnonzero(held)
        specific = [int(i) for i in rows if (reasons[int(i)] or NO_TEMPLATE) != NO_TEMPLATE]
        rows = np.asarray(specific) if len({reasons[i] for i in specific}) >= 2 else rows
        self.reasons_, self.reason_coef_, self.reason_intercept_ = _multiclass(
            features[rows], [reasons[int(i)] or NO_TEMPLATE for i in rows], self.section_C, self.random_state)
        return self

    def probability(self, features: sp.csr_matrix) -> np.ndarray:
        """The calibrated probability that a person must answer, per row."""
        check_is_fitted(self, "coef_")
        margins = np.asarray(features @ self.coef_).ravel() + self.intercept_
        return expit(margins * self.slope_ + self.offset_)

    def _ranked(self, features: sp.csr_matrix, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(features @ coef.T) + intercept, axis=1)

    def judge(self, features: sp.csr_matrix) -> list[HoldBack]:
        """Probability, likeliest section (with its probability) and likeliest reason, per row."""
        person = self.probability(features)
        queues = self._ranked(features, self.queue_coef_, self.queue_intercept_)
        reasons = self._ranked(features, self.reason_coef_, self.reason_intercept_)
        out = []
        known = {str(q): i for i, q in enumerate(self.queues_)}
        # Only the rules say a sender asked for a person or for no automatic reply: those need the request itself.
        explicit = np.isin(self.reasons_, list(EXPLICIT_REASONS))
        if not explicit.all():
            reasons = np.where(explicit, -1.0, reasons)
        for row in range(features.shape[0]):
            best = int(np.argmax(reasons[row]))
            reason = str(self.reasons_[best])
            fixed = REASON_SECTIONS.get(reason)
            q = known[fixed] if fixed in known else int(np.argmax(queues[row]))
            out.append(HoldBack(float(person[row]), str(self.queues_[q]), float(queues[row, q]), reason,
                                float(reasons[row, best])))
        return out

    def predict_proba(self, features: sp.csr_matrix) -> np.ndarray:
        """Probabilities of standard and of needs-a-person, per row (scikit-learn's layout)."""
        on = self.probability(features)
        return np.column_stack([1.0 - on, on])

    def predict(self, features: sp.csr_matrix) -> np.ndarray:
        """Whether a person must answer, per row, at the threshold."""
        return self.probability(features) >= self.threshold

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        for name in ("queues_", "reasons_"):
            if isinstance(state.get(name), np.ndarray):
                state[name] = "\n".join(str(c) for c in state[name])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state.setdefault("calibration_holdout", None)  # saved before the parameter existed
        for name in ("queues_", "reasons_"):
            if isinstance(state.get(name), str):
                state[name] = np.asarray(state[name].split("\n"))
        super().__setstate__(state)
