"""The admin models page on a real app and database: versions, confusion pictures, comparison, promotion and
rollback with the gate, the compare-and-swap and the audit log, background retraining, bad model files."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from classifiers.corpus import corpus_files, read_corpus
from classifiers.model import TriageModel
from classifiers.versions import MODEL_FILE, ModelRegistry
from pipeline.config import TriageSettings
from pipeline.runtime import Runtime
from pipeline.store.models import AuditEvent
from tests.e2e.web import Browser, context_for, make_user, serve_in_thread, sqlite_runtime  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CONFUSION = {"confusion": {"labels": ["fees", "renewal"], "matrix": [[3, 1], [0, 4]]}}


def _version(model: TriageModel, name: str, **metrics: Any) -> TriageModel:
    return replace(model, info=replace(model.info, version=name,
                                       metrics=dict(model.info.metrics) | {"macro_f1": 0.9, "hold_recall": 0.8} | CONFUSION | metrics))


def _small_corpus(folder: Path) -> Path:
    """A copy of a few examples per topic and language: quick to train."""
    examples, _ = read_corpus(corpus_files(ROOT / "data" / "corpus"))
    seen: Counter[tuple[str, str, str]] = Counter()
    rows = []
    for e in examples:
        key = (e.topic, e.language, e.split)
        if e.language in ("en", "fr") and seen[key] < (8 if e.split == "train" else 2):
            seen[key] += 1
            rows.append({"id": e.id, "language": e.language, "topic": e.topic, "subject": e.subject, "body": e.body,
                         "split": e.split, "thread": e.thread})
    folder.mkdir()
    (folder / "small.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def admin(sqlite_runtime: Runtime, tmp_path: Path, triage_model: TriageModel) -> Iterator[tuple[Browser, ModelRegistry, Runtime]]:  # noqa: F811
    models = tmp_path / "models"
    registry = ModelRegistry(models)
    registry.add(_version(triage_model, "v-a"), trained_by="ann")
    registry.add(_version(triage_model, "v-b", macro_f1=0.95), trained_by="ben")
    registry.add(_version(triage_model, "v-c", macro_f1=0.5), trained_by="cat")
    make_user(sqlite_runtime, "ada", role="admin")
    make_user(sqlite_runtime, "sam", queues=["customer_service"])
    ctx = context_for(sqlite_runtime, tmp_path)
    triage = TriageSettings(model_path=models / "triage-model.skops", corpus=_small_corpus(tmp_path / "corpus"),
                            auto_train=False)
    ctx = replace(ctx, settings=ctx.settings.model_copy(update={"triage": triage}))
    with serve_in_thread(ctx) as server:
        browser = Browser(server.url)
        browser.login("ada")
        yield browser, registry, sqlite_runtime
        browser.close()


def _post(browser: Browser, data: dict[str, str]) -> Any:
    return browser.post("/admin/models", data, token_from="/admin/models")


def test_versions_with_figures_and_a_confusion_picture(admin: tuple[Browser, ModelRegistry, Runtime]) -> None:
    browser, _, _ = admin
    page = browser.get("/admin/models")
    assert page.status_code == 200
    for version in ("v-a", "v-b", "v-c"):
        assert version in page.text
    assert "0.9500" in page.text and "<svg" in page.text and "Confusion matrix" in page.text
    assert "fees as renewal: 1" in page.text and "renewal as renewal: 4" in page.text
    assert "<script" not in page.text.split("</head>")[1]


def test_staff_cannot_see_or_change_models(admin: tuple[Browser, ModelRegistry, Runtime], sqlite_runtime: Runtime) -> None:  # noqa: F811
    browser, registry, _ = admin
    staff = Browser(browser.url)
    staff.login("sam")
    assert staff.get("/admin/models").status_code == 403
    assert staff.post("/admin/models", {"op": "promote", "version": "v-a"}, token_from="/queues").status_code == 403
    staff.close()
    assert browser.post("/admin/models", {"op": "promote", "version": "v-a", "expected_live": ""},
                        token_from=None).status_code == 403  # no CSRF token
    assert registry.live() is None


def test_promote_gate_force_stale_look_rollback_and_audit(admin: tuple[Browser, ModelRegistry, Runtime]) -> None:
    browser, registry, runtime = admin
    assert _post(browser, {"op": "promote", "version": "v-a", "expected_live": ""}).status_code == 303
    assert registry.live() == "v-a"
    worse = _post(browser, {"op": "promote", "version": "v-c", "expected_live": "v-a"})
    assert worse.status_code == 400 and "worse than the live model" in worse.text and registry.live() == "v-a"
    assert _post(browser, {"op": "promote", "version": "v-c", "expected_live": "v-a", "force": "1"}).status_code == 303
    stale = _post(browser, {"op": "promote", "version": "v-b", "expected_live": "v-a"})  # a page loaded before
    assert stale.status_code == 409 and "changed to v-c" in stale.text and registry.live() == "v-c"
    assert _post(browser, {"op": "rollback", "expected_live": "v-c"}).status_code == 303
    assert registry.live() == "v-a"
    page = browser.get("/admin/models").text
    assert "ada rolled back to <code>v-a</code>" in page and "forced past the gate" in page
    with runtime.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.event.like("model_%")).order_by(AuditEvent.id)).all()
        assert [(e.event, e.actor, e.details["version"]) for e in events] == [
            ("model_promoted", "ada", "v-a"), ("model_promoted", "ada", "v-c"), ("model_rolled_back", "ada", "v-a")]


def test_a_corrupted_version_is_refused_and_the_live_model_stays(admin: tuple[Browser, ModelRegistry, Runtime]) -> None:
    browser, registry, _ = admin
    _post(browser, {"op": "promote", "version": "v-a", "expected_live": ""})
    (registry.root / "v-b" / MODEL_FILE).write_bytes(b"PK\x03\x04 broken")
    refused = _post(browser, {"op": "promote", "version": "v-b", "expected_live": "v-a", "force": "1"})
    assert refused.status_code == 400 and "corrupted" in refused.text and registry.live() == "v-a"


def test_compare_shows_both_on_the_same_held_out_data(admin: tuple[Browser, ModelRegistry, Runtime]) -> None:
    browser, _, _ = admin
    page = browser.get("/admin/models/compare", params={"first": "v-a", "second": "v-b"})
    assert page.status_code == 200, page.text
    assert "v-a against v-b" in page.text and "held-out examples" in page.text and "F1 renewal" in page.text
    assert "0 of the latest 200 inquiries" in page.text
    missing = browser.get("/admin/models/compare", params={"first": "v-a", "second": "nope"})
    assert missing.status_code == 400 and "no model version nope" in missing.text


def test_retraining_runs_in_the_background_and_adds_a_version(admin: tuple[Browser, ModelRegistry, Runtime]) -> None:
    browser, registry, runtime = admin
    assert _post(browser, {"op": "retrain"}).status_code == 303
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        page = browser.get("/admin/models").text
        if "Training started by" not in page:
            break
        assert "<progress" in page
        time.sleep(1)
    assert "Last training by ada made version" in page, page
    made = [e for e in registry.versions() if e.trained_by == "ada"]
    assert len(made) == 1 and registry.live() is None
    with runtime.session_factory() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.event == "model_trained"))
        assert event is not None and event.details["version"] == made[0].version
