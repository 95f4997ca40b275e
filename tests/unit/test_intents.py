"""Intents and hold-backs: negation and look-alike contrast pairs, several questions, every hold-back reason."""

from __future__ import annotations

from collections import Counter

import pytest

from classifiers.config import SOURCE_ROOT
from classifiers.corpus import Example, corpus_files, read_corpus, thread_split, threads_in_both_splits
from classifiers.decision import Decision
from classifiers.holdback import HOLD_REASONS, explicit_request
from classifiers.inputs import TriageInput
from classifiers.intents import INTENTS, mark_negation, segments
from classifiers.training import holdback_examples
from classifiers.triage import triage_inputs

CORPUS = SOURCE_ROOT / "data" / "corpus"


def decide(model, config, subject: str, body: str) -> Decision:  # type: ignore[no-untyped-def]
    return triage_inputs([TriageInput.from_text(subject, body)], model, config)[0]


# --- negation marking and segments (pure) ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "negated", "plain"),
    [
        ("No deferment was requested.", "NEG_deferment", None),
        ("We requested deferment of publication.", None, "deferment"),
        ("The application was filed without irregularities.", "NEG_irregularities", None),
        ("Nous n'avons pas demandé d'ajournement.", "NEG_ajournement", None),
        ("Déposée sans irrégularité, elle attend.", "NEG_irregularite", None),
        ("No se solicitó aplazamiento para el DM/222 330.", "NEG_aplazamiento", None),
        ("Presentada sin irregularidades.", "NEG_irregularidades", None),
        ("We don't want an automatic reply.", "NEG_automatic", None),
        ("Account no. 12 was debited for the renewal.", None, "renewal"),
        ("No deferment, but a renewal question.", "NEG_deferment", "renewal"),
    ],
)
def test_negation_marks_the_words_in_its_scope_only(text: str, negated: str | None, plain: str | None) -> None:
    tokens = mark_negation(text).split()
    if negated:
        assert negated in tokens
    if plain:
        assert plain in tokens and "NEG_" + plain not in tokens


def test_negation_scope_ends_with_the_clause() -> None:
    tokens = mark_negation("We did not ask for deferment. Please renew the registration.").split()
    assert "NEG_deferment" in tokens and "renew" in tokens and "NEG_renew" not in tokens


def test_segments_follow_numbered_questions() -> None:
    parts = segments("Two questions:\n1. Has our payment been credited?\n2. When will it be published?")
    assert parts[-2:] == ["1. Has our payment been credited?", "2. When will it be published?"]


# --- explicit requests (pure) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Could someone please call me on +44 20 7946 0321?", "asked_for_person"),
        ("Je préfère parler à une personne, merci de me rappeler.", "asked_for_person"),
        ("¿Podría llamarme alguien? Prefiero hablar con una persona.", "asked_for_person"),
        ("We do not want an automatic reply, please have someone read this.", "no_automatic_reply"),
        ("Nous ne voulons pas de réponse automatique.", "no_automatic_reply"),
        ("No queremos una respuesta automática ni un texto estándar.", "no_automatic_reply"),
        ("When will DM/222 850 be published?", None),
        ("The person who filed the application has left the company.", None),
    ],
)
def test_explicit_requests(text: str, expected: str | None) -> None:
    assert explicit_request(text) == expected


# --- the corpus's reply labels ---------------------------------------------------------------


def test_corpus_reply_labels_are_known_and_threads_stay_in_one_split() -> None:
    examples, _ = read_corpus(corpus_files(CORPUS))
    assert threads_in_both_splits(examples) == []
    labelled = [e for e in examples if e.intents is not None]
    assert len(labelled) == len(examples)
    assert {i for e in labelled for i in e.intents or ()} <= set(INTENTS)
    assert all(not e.intents for e in labelled if not e.standard)
    assert all(e.hold_reason in HOLD_REASONS for e in labelled if not e.standard)
    counts = Counter(i for e in labelled for i in e.intents or ())
    assert min(counts[i] for i in INTENTS) >= 20, counts.most_common()[-5:]
    reasons = Counter(e.hold_reason for e in labelled if not e.standard)
    for reason in ("dispute", "insolvency", "third_party_proceedings", "formal_notice", "asked_for_person",
                   "no_automatic_reply", "deadline_at_risk", "payment_dispute", "technical_fault", "complaint"):
        assert reasons[reason] >= 15, reason
    threaded = Counter(e.thread_id for e in examples)
    assert any(n > 1 for n in threaded.values())


def test_thread_split_is_deterministic_and_holds_some_out() -> None:
    splits = [thread_split(f"thread-{n}") for n in range(1000)]
    assert splits == [thread_split(f"thread-{n}") for n in range(1000)]
    assert 100 <= splits.count("test") <= 200


def test_extra_labels_replace_the_corpus_labels_of_the_same_example() -> None:
    base = [Example("a", "en", "fees", "", "x"), Example("b", "en", "fees", "", "y")]
    staff = Example("b", "en", "fees", "", "y", standard=False, queue="finance", hold_reason="payment_dispute")
    assert holdback_examples(base, [staff]) == [base[0], staff]


# --- contrast pairs: each pair gets different intents ------------------------------------------

CONTRAST_PAIRS = [
    (  # negation flips deferment
        ("Publication", "We requested deferment of publication for DM/223 410 for 30 months. Can it be shortened to 12?"),
        ("Publication", "No deferment was requested for DM/223 410, registered in April. When will it be published?"),
        "publication--deferment",
    ),
    (
        ("Publicación", "Pedimos el aplazamiento de la publicación del DM/223 870. ¿Podemos cancelarlo?"),
        ("Publicación", "No se solicitó ningún aplazamiento para el DM/223 870. ¿Cuándo se publicará en el Boletín?"),
        "publication--deferment",
    ),
    (  # an irregularity notice against a filing without irregularities
        ("Application A2903 114", "We received an irregularity notice for A2903 114 about the product indication. What must we do and by when?"),
        ("Application A2903 114", "A2903 114 was filed without irregularities on 3 May. Has it been registered yet?"),
        "irregularity",
    ),
    (  # some designs renewed, the others let go, against restoring a lapsed registration
        ("Renewal DM/205 660", "DM/205 660 is due for renewal in July. We will renew designs 1 and 2 only; the others can lapse."),
        ("DM/205 660", "DM/205 660 lapsed last year because nobody renewed it in the grace period. Can it be restored?"),
        "renewal--partial",
    ),
    (  # a look-alike register's invoice, against asking for our own invoice
        ("FW: invoice", "We got an invoice from 'International Register of Designs Ltd' for EUR 1,340 quoting our DM number. Is this from you? Must we pay it?"),
        ("Invoice please", "Could you send us an invoice for the renewal fee we paid on 2 June for DM/201 556?"),
        "fees--suspicious_invoice",
    ),
    (  # renamed (same company) against an office error
        ("Holder name", "Our company Lumo Oy has changed its name to Lumo Design Oy; it is the same company. How do we record the new name?"),
        ("Holder name", "The certificate for DM/219 330 spells our name 'Lumo Oj' although we filed it as 'Lumo Oy'. Please correct your error."),
        "recording_change--name_address",
    ),
    (  # a licence against a change of ownership
        ("Recording", "We have granted an exclusive licence on DM/206 118 to a distributor; the holder stays the same. How is the licence recorded?"),
        ("Recording", "We have sold DM/206 118 to another company, which becomes the new holder. How is the change of ownership recorded?"),
        "recording_change--licence",
    ),
    (  # a renunciation against a change of ownership
        ("DM/208 552", "We want to renounce the designation of Japan for DM/208 552 and keep the others. What form?"),
        ("DM/208 552", "DM/208 552 was assigned to our parent company. What form records the new owner?"),
        "recording_change--limitation",
    ),
    (  # has it been published against when will it be
        ("DM/221 118", "Has DM/221 118 already been published, and in which Bulletin?"),
        ("DM/221 118", "How do we request that the publication of DM/221 118 be deferred?"),
        "publication--status",
    ),
    (  # has my payment been credited against how to pay
        ("Payment", "We transferred CHF 1,100 for A2904 552 on Monday. Has the payment been credited?"),
        ("Payment", "Which payment methods can we use for the fees of A2904 552, and can we pay from a current account?"),
        "fees--payment_status",
    ),
]


@pytest.mark.parametrize(("first", "second", "intent"), CONTRAST_PAIRS, ids=[p[2] for p in CONTRAST_PAIRS])
def test_contrast_pairs_get_different_intents(triage_model, triage_config, first, second, intent) -> None:  # type: ignore[no-untyped-def]
    one, other = decide(triage_model, triage_config, *first), decide(triage_model, triage_config, *second)
    assert one.standard and other.standard, (one.reason, other.reason)
    assert intent in one.answer_intents, one.intents[:3]
    assert intent not in other.answer_intents, other.intents[:3]
    assert set(one.answer_intents) != set(other.answer_intents)


def test_negation_flips_the_intent(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    asked = decide(triage_model, triage_config, "DM/224 330", "We have requested deferment of publication for DM/224 330.")
    negated = decide(triage_model, triage_config, "DM/224 330", "We have not requested deferment of publication for DM/224 330.")
    p_asked = dict(asked.intents)["publication--deferment"]
    p_negated = dict(negated.intents)["publication--deferment"]
    assert p_asked > 0.5 > p_negated


# --- several questions, in the order asked -----------------------------------------------------


def test_numbered_questions_get_one_intent_each_in_asked_order(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    decision = decide(
        triage_model, triage_config, "Two questions",
        "Hello,\n1. We want to renew DM/209 118 for designs 1 and 2 only and let the others lapse. How?\n"
        "2. Could you also send us a receipt for our payment of 4 March for A2899 771?\nThanks, Ana",
    )
    assert decision.standard
    assert decision.answer_intents == ("renewal--partial", "fees--receipt")
    reversed_order = decide(
        triage_model, triage_config, "Two questions",
        "Hello,\n1. Could you send us a receipt for our payment of 4 March for A2899 771?\n"
        "2. We want to renew DM/209 118 for designs 1 and 2 only and let the others lapse. How?\nThanks, Ana",
    )
    assert reversed_order.answer_intents == ("fees--receipt", "renewal--partial")


def test_decision_json_carries_intents_and_no_template(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    data = decide(triage_model, triage_config, "Renewal", "How do we renew DM/200 118, which expires in May?").as_json()
    assert "template" not in data
    assert data["answer_intents"] and data["hold_reason"] is None
    probabilities = [i["probability"] for i in data["intents"]]
    assert probabilities == sorted(probabilities, reverse=True)


# --- every hold-back reason --------------------------------------------------------------------

HOLD_CASES = [
    ("dispute", "legal", "DM/207 441 co-owners",
     "We co-own DM/207 441 with a former partner who now claims to be the sole owner and wants to sell it. "
     "We object to any transfer and are taking him to court. Please record nothing without our consent."),
    ("insolvency", "legal", "Holder in insolvency",
     "I was appointed insolvency administrator of Tessin Möbel AG by the court on 2 May. The company holds "
     "DM/190 118. What must I send to be recorded as the person entitled to dispose of it?"),
    ("third_party_proceedings", "legal", "Invalidity of a competitor's design",
     "A competitor's registration DM/216 552 copies our earlier design. We want it declared invalid in France and "
     "Germany. Can we bring the invalidity action before your office?"),
    ("formal_notice", "legal", "FORMAL NOTICE",
     "We hereby put your office on formal notice: your error in recording DM/171 330 caused our client a loss of "
     "EUR 30,000. We demand compensation within 30 days, failing which we will start legal proceedings."),
    ("asked_for_person", "customer_service", "Renewal", "I have a question about renewing DM/201 441. Could someone call me on +41 22 555 01 01?"),
    ("no_automatic_reply", "customer_service", "Fees",
     "We do not want an automatic reply. Please have someone check why our fee for A2898 118 was split in two."),
    ("deadline_at_risk", None, "URGENT - time limit expires tomorrow",
     "The time limit to remedy the irregularity on A2899 552 expires tomorrow and the upload of the corrected "
     "reproductions keeps failing. We are about to lose the application. Please help urgently."),
    ("payment_dispute", "finance", "We dispute this charge",
     "You debited CHF 1,200 from our current account for DM/218 441 although we had already paid by card. We "
     "dispute the second charge and want it reversed."),
    ("technical_fault", "it", "eHague down",
     "Since this morning eHague returns HTTP 503 for every user in our firm, on every browser. Is there an outage? "
     "Please ask your IT team to look into it."),
    ("complaint", None, "Unacceptable",
     "This is the third time I write and nobody answers. Your service is a disgrace and I will complain to the "
     "Director General."),
    ("unsupported_language", "translation", "Verlängerung",
     "Sehr geehrte Damen und Herren, unsere Eintragung DM/212 345 läuft im März ab. Wie hoch ist die Gebühr?"),
]


@pytest.mark.parametrize(("reason", "queue", "subject", "body"), HOLD_CASES, ids=[c[0] for c in HOLD_CASES])
def test_hold_back_reasons(triage_model, triage_config, reason, queue, subject, body) -> None:  # type: ignore[no-untyped-def]
    decision = decide(triage_model, triage_config, subject, body)
    assert not decision.standard, decision.reason
    assert decision.answer_intents == ()
    assert decision.hold_reason == reason, (decision.hold_reason, decision.reason)
    if queue is not None:
        assert decision.queue == queue
    assert decision.reason


def test_unclear_text_is_held_back_with_low_confidence(triage_model, triage_config) -> None:  # type: ignore[no-untyped-def]
    decision = decide(triage_model, triage_config, "", "Regarding the matter we discussed with your colleague last week, see above.")
    assert not decision.standard
    assert decision.hold_reason in ("low_confidence", "no_template")


@pytest.mark.parametrize(("general", "specific", "kept"), [
    (0.94, 0.58, ("irregularity",)),  # a far weaker variant is a guess: the sure general answer stays
    (0.90, 0.85, ("irregularity--fees",)),  # a variant about as likely answers the same question better
    (0.60, 0.95, ("irregularity--fees",)),
])
def test_a_variant_replaces_its_topics_general_answer_only_when_about_as_likely(
        general: float, specific: float, kept: tuple[str, ...]) -> None:
    import numpy as np

    from classifiers.intents import IntentClassifier

    model = IntentClassifier()
    model.classes_ = np.asarray(["irregularity", "irregularity--fees", "renewal"])
    probs = np.asarray([general, specific, 0.7])
    chosen = model._without_shadowed([0, 1, 2], probs)
    assert tuple(str(model.classes_[i]) for i in chosen) == (*kept, "renewal")


@pytest.mark.parametrize(("second", "asked"), [
    (0.55, ("fees--refund",)),  # above the threshold but a guess beside a sure first answer: no unasked paragraph
    (0.85, ("fees--refund", "fees--receipt")),  # a second question asked as surely is answered too
])
def test_a_further_intent_must_be_surer_than_the_first(second: float, asked: tuple[str, ...]) -> None:
    import numpy as np

    from classifiers.intents import IntentClassifier

    model = IntentClassifier()
    model.classes_ = np.asarray(["fees--refund", "fees--receipt", "renewal"])
    model.predict_proba = lambda texts: np.asarray([[0.99, second, 0.1]] * len(texts))  # type: ignore[method-assign]
    assert model.classify(["Refund please"])[0].asked == asked


def _toy_intents() -> tuple[list[str], list[tuple[str, ...]]]:
    texts, intents = [], []
    for n in range(40):
        texts.append(f"please refund the overpayment number {n} to our account")
        intents.append(("fees--refund",))
        texts.append(f"we need a receipt for payment {n} for our auditors")
        intents.append(("fees--receipt",))
        texts.append(f"when does registration {n} have to be renewed")
        intents.append(("renewal",))
    return texts, intents


def test_intents_fitted_in_threads_equal_those_fitted_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from classifiers.intents import IntentClassifier

    texts, intents = _toy_intents()
    monkeypatch.setenv("TRIAGE_TRAINING_WORKERS", "1")
    alone = IntentClassifier(calibration_folds=3).fit(texts, intents)
    monkeypatch.setenv("TRIAGE_TRAINING_WORKERS", "3")
    threaded = IntentClassifier(calibration_folds=3).fit(texts, intents)
    # liblinear's shuffling draws from the C library's one random state, which threads share: the solutions agree to
    # the solver's tolerance (the problem is strictly convex, so there is one optimum), not bit for bit.
    assert np.allclose(alone.coef_, threaded.coef_, atol=1e-4) and np.allclose(alone.slope_, threaded.slope_, atol=1e-3)
    assert threaded.predict(["could you refund the overpayment"]) == [("fees--refund",)]


def test_a_calibration_holdout_fits_each_intent_once_and_calibrates_on_the_rows_kept_aside(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import classifiers.intents as module

    texts, intents = _toy_intents()
    fits: list[int] = []
    original = module.LinearSVC.fit

    def counting(self, features, answers):  # type: ignore[no-untyped-def]
        fits.append(features.shape[0])
        return original(self, features, answers)

    monkeypatch.setattr(module.LinearSVC, "fit", counting)
    folds = module.IntentClassifier(calibration_folds=3).fit(texts, intents)
    assert len(fits) == 4 * len(folds.classes_)  # three folds and a refit on every row, per intent
    fits.clear()
    model = module.IntentClassifier(calibration_folds=3, calibration_holdout=0.25).fit(texts, intents)
    assert fits == [len(texts) - round(0.25 * len(texts))] * len(model.classes_)  # one fit, on the rest
    assert model.predict(["a receipt for our payment please"]) == [("fees--receipt",)]


@pytest.mark.parametrize("value", ["zero", "0", "-2"])
def test_a_wrong_training_workers_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from classifiers.parallel import training_workers
    from pipeline.errors import ClassifierError

    monkeypatch.setenv("TRIAGE_TRAINING_WORKERS", value)
    with pytest.raises(ClassifierError, match="TRIAGE_TRAINING_WORKERS"):
        training_workers()
