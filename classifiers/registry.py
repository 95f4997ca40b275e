"""Models on disk: skops files that carry their version, data hash, metrics and library versions.

skops stores the estimators' state, not pickled code: loading only builds
objects of types we allow by name (scikit-learn's own, numpy's, and the two
estimators of this package), so a tampered file cannot run code. A missing
file is trained from the corpus on first use (``triage.auto_train``); a
corrupted or foreign one is a ``ClassifierError`` that says to run ``triage train``.
"""

from __future__ import annotations

import logging
import os
import warnings
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from classifiers.config import SOURCE_ROOT, TriageConfig, resolve
from classifiers.corpus import corpus_files, of_split, read_corpus
from classifiers.flags import FlagClassifier
from classifiers.holdback import HoldBackClassifier
from classifiers.intents import IntentClassifier
from classifiers.language import CharLanguageModel
from classifiers.model import ModelInfo, TriageModel
from classifiers.pointer import MODEL_FILE, live_version
from classifiers.topics import TopicClassifier
from classifiers.training import library_versions, train_model
from pipeline.config import TriageSettings
from pipeline.errors import ClassifierError

log = logging.getLogger(__name__)

FORMAT = "triage-model/1"
_OWN_TYPES = {f"{cls.__module__}.{cls.__qualname__}" for cls in (CharLanguageModel, TopicClassifier, FlagClassifier,
                                                                 IntentClassifier, HoldBackClassifier)}
# Types skops does not trust by default but that a fitted model of ours legitimately holds.
_ALLOWED_TYPES = _OWN_TYPES | {"builtins.tuple", "numpy.float32", "numpy.dtype", "numpy.dtypes.Float32DType"}


def save_model(model: TriageModel, path: Path) -> None:
    """Write ``model`` to ``path`` atomically (a reader never sees half a file)."""
    import skops.io as sio

    payload = {"format": FORMAT, "info": model.info.as_dict(), "language": model.language, "topics": model.topics,
               "flags": dict(model.flags), "intents": model.intents, "holdback": model.holdback}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".model-", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        sio.dump(payload, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _retrain_hint(path: Path) -> str:
    return f"run `triage train` to rebuild {path} from the corpus"


def _load_quietly(sio: Any, path: Path, trusted: list[str]) -> Any:
    """``skops.io.load``; scikit-learn's warning about another version is dropped: the caller compares versions."""
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        payload = sio.load(path, trusted=trusted)
    for warning in caught:
        if not issubclass(warning.category, InconsistentVersionWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return payload


def load_model(path: Path) -> TriageModel:
    """Read a model file; ``ClassifierError`` when it is missing, corrupted or holds unexpected types."""
    import skops.io as sio

    if not path.is_file():
        raise ClassifierError(f"no model at {path}: {_retrain_hint(path)}")
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
        unexpected = untrusted - _ALLOWED_TYPES
        if unexpected:
            raise ClassifierError(
                f"model {path} holds types this version does not load ({', '.join(sorted(unexpected))}); "
                + _retrain_hint(path)
            )
        payload: Any = _load_quietly(sio, path, sorted(untrusted))
    except ClassifierError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, TypeError, AttributeError, ImportError) as exc:
        raise ClassifierError(f"model {path} is corrupted or unreadable ({type(exc).__name__}: {exc}); {_retrain_hint(path)}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ClassifierError(f"{path} is not a {FORMAT} model file; {_retrain_hint(path)}")
    language, topics = payload.get("language"), payload.get("topics")
    if not isinstance(language, CharLanguageModel) or not isinstance(topics, TopicClassifier):
        raise ClassifierError(f"model {path} lacks its language or topic estimator; {_retrain_hint(path)}")
    flags = payload.get("flags", {})
    if not isinstance(flags, dict) or not all(isinstance(f, FlagClassifier) for f in flags.values()):
        raise ClassifierError(f"model {path} has unreadable signal classifiers; {_retrain_hint(path)}")
    intents, holdback = payload.get("intents"), payload.get("holdback")
    if intents is not None and not isinstance(intents, IntentClassifier) or holdback is not None and not isinstance(holdback, HoldBackClassifier):
        raise ClassifierError(f"model {path} has unreadable intent or hold-back classifiers; {_retrain_hint(path)}")
    try:
        info = ModelInfo.from_dict(payload["info"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ClassifierError(f"model {path} has no valid description ({exc}); {_retrain_hint(path)}") from exc
    return TriageModel(language=language, topics=topics, info=info, flags=flags, intents=intents, holdback=holdback)


def build_model(settings: TriageSettings, config: TriageConfig, *, now: datetime | None = None) -> TriageModel:
    """Train a model from the configured corpus and attach its held-out metrics."""
    from dataclasses import replace

    from classifiers.evaluation import evaluate, summary

    examples, data_hash = read_corpus(corpus_files(resolve(settings.corpus)))
    model = train_model(examples, data_hash, config.taxonomy, trained_at=now or datetime.now(timezone.utc))
    test = of_split(examples, "test")
    if test:
        metrics = summary(evaluate(test, model, config))
        model = replace(model, info=replace(model.info, metrics=metrics))
    return model


def model_location(path: Path) -> Path:
    """Where the model file is: as configured when absolute or present here, else in the checkout's own ``var/``.

    Every process run from anywhere in a checkout (tests, the daemon, the CLI) then shares one trained model.
    """
    if path.is_absolute() or path.exists():
        return path
    shipped = SOURCE_ROOT / path
    if shipped.exists() or (SOURCE_ROOT / "pyproject.toml").is_file():
        return shipped
    return path


def _corpus_hash(settings: TriageSettings) -> str | None:
    try:
        return read_corpus(corpus_files(resolve(settings.corpus)))[1]
    except ClassifierError:
        return None  # no corpus where the model runs: use the model as it is


def _why_stale(model: TriageModel, settings: TriageSettings) -> str | None:
    """Why a model no longer fits this installation (other scikit-learn, changed corpus), or None."""
    trained_with = model.info.libraries.get("scikit-learn")
    if trained_with != library_versions()["scikit-learn"]:
        return f"model {model.version} was trained with scikit-learn {trained_with}"
    current = _corpus_hash(settings)
    if current is not None and current != model.info.data_hash:
        return f"the corpus changed since model {model.version} was trained"
    return None


def load_or_train(settings: TriageSettings, config: TriageConfig) -> TriageModel:
    """The configured model: the registry's live version when one was promoted, else the model file.

    With auto_train the model file is (re)trained and saved when missing or stale.
    """
    path = model_location(settings.model_path)
    live = live_version(path.parent)
    if live is not None:  # a promoted version may hold corrections the corpus lacks: never stale by data
        model = load_model(path.parent / live / MODEL_FILE)
        if model.version != live:
            raise ClassifierError(f"the live model file of version {live} holds model {model.version}")
        return model
    if path.exists() or not settings.auto_train:
        model = load_model(path)
        reason = _why_stale(model, settings)
        if reason is None:
            return model
        if not settings.auto_train:
            log.warning("%s; run `triage train` to rebuild it", reason)
            return model
    else:
        reason = "there is no model yet"
    log.info("training the model from %s (%s)", settings.corpus, reason)
    model = build_model(settings, config)
    try:
        save_model(model, path)
    except OSError as exc:
        log.warning("cannot save the trained model to %s (%s); using it for this run only", path, exc.strerror)
    return model
