"""Two desks from one install on a real SQLite database, and `triage check-config` on each desk, as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from pipeline.config import DatabaseSettings, DeskSettings, MailboxSettings, Settings
from pipeline.desks import assign_desk
from pipeline.ingest import Ingestor
from pipeline.rounds.triage import shared_triage, triage_service
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.files import iter_paths
from pipeline.store.decisions import current_decision
from pipeline.store.models import Inquiry
from responders.context import ReplyContext
from responders.suggest import NoReply
from webapp.services.suggestions import suggest_for_inquiry

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = str(Path(sys.executable).with_name("triage"))
RENEWAL_SAMPLES = ROOT / "data" / "samples" / "renewals"
RENEWALS_FOLDER = ROOT / "config" / "desks" / "renewals"
REGISTRY_SAMPLE = ROOT / "data" / "samples" / "01-en-renewal.eml"
REGISTRY_MARKS = ("International Design Registry", "registry.example.org", "Hague", "Bulletin", "treaty")


def _settings(db: Path) -> Settings:
    mailbox = {"host": "127.0.0.1", "tls": "none", "password": "x"}
    return Settings(
        database=DatabaseSettings(url=f"sqlite:///{db}"),
        desks={"renewals": DeskSettings(name="Renewals", folder=ROOT / "config" / "desks" / "renewals",
                                        corpus=ROOT / "data" / "corpus" / "renewals",
                                        languages=("en", "fr", "es", "de"))},
        mailboxes={"desk": MailboxSettings(user="helpdesk@registry.example.org", desk="registry", **mailbox),  # type: ignore[arg-type]
                   "renewals": MailboxSettings(user="renewals@example.com", desk="renewals", **mailbox)},  # type: ignore[arg-type]
    )


@pytest.fixture
def desks(tmp_path: Path) -> Iterator[tuple[Settings, Runtime]]:
    settings = _settings(tmp_path / "triage.db")
    runtime = open_runtime(settings)
    try:
        yield settings, runtime
    finally:
        runtime.close()


def _ingest(runtime: Runtime, settings: Settings, paths: list[Path], mailbox: str) -> list[int]:
    """Store and triage files as if they had arrived in ``mailbox``."""
    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, sink=triage_service(runtime),
                        desk_for=lambda _mailbox, recipients: assign_desk(settings, mailbox, recipients))
    return ingestor.ingest(iter_paths(paths)).inquiry_ids


def _suggest(runtime: Runtime, settings: Settings, inquiry_id: int) -> object:
    context = ReplyContext.load(settings)
    with runtime.session_factory() as session:
        reply = suggest_for_inquiry(session, inquiry_id, context)
        session.commit()
        return reply


def test_each_desk_triages_and_answers_with_its_own_identity(desks: tuple[Settings, Runtime]) -> None:
    settings, runtime = desks
    owner_update = RENEWAL_SAMPLES / "r01-en-owner-update.eml"
    [renewal_id] = _ingest(runtime, settings, [owner_update], "renewals")
    [registry_id] = _ingest(runtime, settings, [REGISTRY_SAMPLE], "desk")
    with runtime.session_factory() as session:
        assert session.get(Inquiry, renewal_id).desk == "renewals"  # type: ignore[union-attr]
        assert session.get(Inquiry, registry_id).desk == "registry"  # type: ignore[union-attr]
        renewal = current_decision(session, renewal_id)
        registry = current_decision(session, registry_id)
    assert renewal is not None and registry is not None
    assert (renewal.topic, renewal.queue, renewal.standard, list(renewal.answer_intents)) == \
        ("records", "account_team", True, ["records"])
    assert registry.topic == "renewal" and registry.queue == "customer_service"

    reply = _suggest(runtime, settings, renewal_id)
    assert not isinstance(reply, NoReply), reply
    body = reply.body  # type: ignore[attr-defined]
    assert "Meridian Patent Renewals" in body and "Account Team" in body
    assert not [mark for mark in REGISTRY_MARKS if mark in body], body
    # an owner update for two EP patents keeps both patents in the draft
    assert "EP1234567" in body and "EP2345678" in body

    registry_reply = _suggest(runtime, settings, registry_id)
    assert not isinstance(registry_reply, NoReply), registry_reply
    assert "International Design Registry" in registry_reply.body  # type: ignore[attr-defined]
    assert "Meridian" not in registry_reply.body  # type: ignore[attr-defined]


def test_design_registry_mail_to_the_renewal_mailbox_goes_to_a_person_with_the_reason(
    desks: tuple[Settings, Runtime],
) -> None:
    settings, runtime = desks
    [inquiry_id] = _ingest(runtime, settings, [RENEWAL_SAMPLES / "r04-en-design-registration-to-renewals.eml"],
                           "renewals")
    with runtime.session_factory() as session:
        decision = current_decision(session, inquiry_id)
    assert decision is not None and not decision.standard
    assert (decision.queue, decision.hold_reason, list(decision.answer_intents)) == ("account_team", "other_desk", [])
    assert "design registry" in decision.reason
    reply = _suggest(runtime, settings, inquiry_id)
    assert isinstance(reply, NoReply) and "design registry" in reply.reason


def test_renewal_signals_route_with_the_reason(desks: tuple[Settings, Runtime]) -> None:
    settings, runtime = desks
    names = ["r05-es-complaint.eml", "r06-en-conflicting-instructions.eml", "r03-fr-abandon.eml"]
    ids = _ingest(runtime, settings, [RENEWAL_SAMPLES / name for name in names], "renewals")
    with runtime.session_factory() as session:
        decisions = [current_decision(session, inquiry_id) for inquiry_id in ids]
        desks_stored = session.scalars(select(Inquiry.desk).where(Inquiry.id.in_(ids))).all()
    assert set(desks_stored) == {"renewals"}
    complaint, conflict, abandon = decisions
    assert complaint is not None and (complaint.queue, complaint.hold_reason) == ("account_manager", "complaint")
    assert conflict is not None and (conflict.queue, conflict.hold_reason) == ("renewals_processing",
                                                                                "conflicting_instructions")
    assert abandon is not None and abandon.standard and list(abandon.answer_intents) == ["instruction--abandon"]


def test_a_deadline_at_risk_is_urgent_and_held_back(desks: tuple[Settings, Runtime], tmp_path: Path) -> None:
    settings, runtime = desks
    mail = tmp_path / "due.eml"
    mail.write_text(
        "From: Priya <priya@example.com>\nTo: renewals@example.com\nSubject: Annuity EP 2 987 001\n"
        "Date: Mon, 02 Nov 2026 09:00:00 +0000\nMessage-ID: <due-1@example.com>\n\n"
        "Hello,\n\nPlease pay the annuity for EP 2 987 001, it is due on 6 November 2026.\n\nThanks\nPriya\n",
        encoding="utf-8")
    [inquiry_id] = _ingest(runtime, settings, [mail], "renewals")
    with runtime.session_factory() as session:
        decision = current_decision(session, inquiry_id)
    assert decision is not None and not decision.standard
    assert (decision.queue, decision.hold_reason) == ("renewals_processing", "deadline_at_risk")
    assert decision.signals["urgent"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    return subprocess.run([TRIAGE, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def test_check_config_names_each_desk_problem(tmp_path: Path) -> None:
    folder = tmp_path / "renewals"
    shutil.copytree(ROOT / "config" / "desks" / "renewals", folder)
    (folder / "templates" / "de" / "invoice.j2").unlink()
    catalogue = folder / "templates" / "catalogue.toml"
    text = catalogue.read_text(encoding="utf-8")
    start = text.index('[[template]]\nid = "portfolio"')
    catalogue.write_text(text[:start] + text[text.index("[[template]]", start + 5):], encoding="utf-8")
    (tmp_path / "triage.toml").write_text(
        "[desks.renewals]\n"
        f'folder = "{folder}"\n'
        f'corpus = "{ROOT / "data" / "corpus" / "renewals"}"\n'
        'languages = ["en", "fr", "es", "de", "it"]\n'
        'addresses = ["renewals@example.com"]\n'
        "[desks.patents]\n"
        f'folder = "{folder}"\n'
        'addresses = ["RENEWALS@example.com"]\n'
        "[mailboxes.loose]\n"
        'host = "127.0.0.1"\ntls = "none"\nuser = "loose@example.com"\npassword_file = "/dev/null"\n'
        "[mailboxes.typo]\n"
        'host = "127.0.0.1"\ntls = "none"\nuser = "typo@example.com"\npassword_file = "/dev/null"\ndesk = "renewal"\n',
        encoding="utf-8")
    result = _run(["--config", str(tmp_path / "triage.toml"), "check-config"], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "mailboxes.loose.desk" in out and "belongs to no desk" in out
    assert "mailboxes.typo.desk" in out and "unknown desk 'renewal'" in out
    assert "desks.patents.addresses" in out and "claimed by desks 'renewals' and 'patents'" in out
    assert "intent 'portfolio' of the desk's corpus has no template" in out
    assert "template 'invoice' is missing in 'de'" in out
    assert "desks.renewals.languages" in out and "'it'" in out


def test_the_shipped_configuration_with_both_desks_is_valid() -> None:
    result = _run(["check-config"], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cached_models_of_two_desks_do_not_unload_each_other(desks: tuple[Settings, Runtime]) -> None:
    settings, _ = desks
    from pipeline.desks import all_desks

    registry, renewals = (all_desks(settings)[name].triage for name in ("registry", "renewals"))
    first = shared_triage(registry)
    shared_triage(renewals)
    assert shared_triage(registry) is first


def test_the_renewal_desks_finance_cases_move_to_billing_and_the_registrys_stay(
        desks: tuple[Settings, Runtime]) -> None:
    from alembic import command
    from sqlalchemy import update

    from pipeline.store.db import _alembic_config, current_revision, head_revision
    from pipeline.store.models import Case, DecisionRecord as Decision
    from webapp.services.cases import sync_cases

    settings, runtime = desks
    renewal = _ingest(runtime, settings, sorted(RENEWAL_SAMPLES.glob("*.eml"))[:1], "renewals")[0]
    registry = _ingest(runtime, settings, [REGISTRY_SAMPLE], "desk")[0]
    sync_cases(runtime.session_factory, until_done=True)
    with runtime.session_factory.begin() as session:  # as the migration found them: both desks' in "finance"
        for table in (Decision, Case):
            session.execute(update(table).where(table.inquiry_id.in_([renewal, registry])).values(queue="finance"))

    def queues() -> dict[tuple[str, int], str]:
        with runtime.session_factory() as session:
            decided = session.execute(select(Decision.inquiry_id, Decision.queue).where(Decision.is_current)).all()
            cased = session.execute(select(Case.inquiry_id, Case.queue)).all()
        return {**{("decision", i): q for i, q in decided}, **{("case", i): q for i, q in cased}}

    config = _alembic_config(runtime.engine)
    command.downgrade(config, "0015")
    command.upgrade(config, "head")
    assert current_revision(runtime.engine) == head_revision()
    after = queues()
    assert after[("decision", renewal)] == after[("case", renewal)] == "billing"
    assert after[("decision", registry)] == after[("case", registry)] == "finance"
    command.downgrade(config, "0015")
    back = queues()
    assert back[("decision", renewal)] == back[("case", renewal)] == "finance"
    command.upgrade(config, "head")


RENEWAL_TEMPLATES = ROOT / "config" / "desks" / "renewals" / "templates"
RENEWAL_DESK_NAMES = {"en": "Account Team", "fr": "Équipe clientèle", "es": "Equipo de cuentas", "de": "Kundenteam"}
# The one amount, date and patent of a "we paid, the invoice still shows open" mail, as each language writes them.
PAYMENT_FACTS = {
    "en": ("EUR 3,200", "3 March 2025"), "fr": ("3\u202f200\u00a0EUR", "3 mars 2025"),
    "es": ("3.200 EUR", "3 de marzo de 2025"), "de": ("3.200 EUR", "3. März 2025"),
}
# What the general invoice answer asks for; a sender who gave the payment's date and amount is not asked again.
ASKS_FOR_DATE_AND_AMOUNT = {"en": "payment date", "fr": "sa date, son montant", "es": "la fecha, el importe",
                            "de": "Datum, Betrag"}


@pytest.mark.parametrize("language", ["en", "fr", "es", "de"])
@pytest.mark.parametrize("template_id", ["invoice--copy", "invoice--payment"])
def test_the_renewal_desks_invoice_variants_render_in_every_language_with_its_identity(
        template_id: str, language: str) -> None:
    from classifiers.entities import Entity
    from responders.render import load_library, sample_entities, sample_facts
    from responders.variables import build_variables

    library = load_library(RENEWAL_TEMPLATES)
    assert library.problems == []
    spec = library.catalogue.by_id(template_id)
    assert spec is not None and spec.topic == "invoice" and library.usable(template_id, language)
    payment = (Entity("patent", "US9876543", 0, 0), Entity("amount", "EUR 3200", 0, 0),
               Entity("date", "2025-03-03", 0, 0))
    for full, entities in ((True, sample_entities(full=True)), (False, ()), (True, payment)):
        variables = build_variables(language=language, topic=spec.topic, variant=spec.variant,
                                    facts=sample_facts(full=full), entities=entities, catalogue=library.catalogue)
        text = library.render(template_id, language, variables).text
        assert "Meridian Patent Renewals" in text and RENEWAL_DESK_NAMES[language] in text, text
        assert "https://renewals.example.com/portal/invoices" in text
        assert not [mark for mark in REGISTRY_MARKS if mark in text], text
        assert "{{" not in text and "[[to fill" not in text and "None" not in text and "\n\n\n" not in text
        if entities:
            assert "US9876543" in text or "EP3456789" in text, text
    if template_id == "invoice--payment":
        amount, date = PAYMENT_FACTS[language]
        assert amount in text and date in text and "US9876543" in text, text
        assert ASKS_FOR_DATE_AND_AMOUNT[language] not in text, text
        general = library.render("invoice", language, variables).text
        assert ASKS_FOR_DATE_AND_AMOUNT[language] in general  # the marker really is the general answer's request


def test_the_renewal_corpus_labels_invoice_copies_payments_and_disputes_apart() -> None:
    from collections import Counter

    from classifiers.corpus import corpus_files, read_corpus, threads_in_both_splits

    examples, _ = read_corpus(corpus_files(ROOT / "data" / "corpus" / "renewals"))
    assert threads_in_both_splits(examples) == []
    train = [e for e in examples if e.split == "train" and e.topic == "invoice"]
    counts = Counter((e.language, intent) for e in train if e.standard for intent in e.intents or ())
    held = Counter(e.language for e in train if not e.standard)
    for language in ("en", "fr", "es", "de"):
        assert counts[(language, "invoice--copy")] >= 6 and counts[(language, "invoice--payment")] >= 6, counts
        assert held[language] >= 4, held
    disputes = [e for e in examples if e.topic == "invoice" and not e.standard]
    assert {(e.queue, e.hold_reason, e.intents) for e in disputes} == {("billing", "payment_dispute", ())}


def test_train_and_models_take_a_desk_each_in_its_own_registry_with_its_own_corrections(
        desks: tuple[Settings, Runtime], tmp_path: Path) -> None:
    from pipeline.store.labels import add_label

    settings, runtime = desks
    renewal = _ingest(runtime, settings, sorted(RENEWAL_SAMPLES.glob("*.eml"))[:1], "renewals")[0]
    registry = _ingest(runtime, settings, [REGISTRY_SAMPLE], "desk")[0]
    with runtime.session_factory.begin() as session:
        add_label(session, renewal, "topic", "records", "ann")  # a renewal desk topic
        add_label(session, registry, "topic", "fees", "ann")  # the registry's: not the renewal desk's business
    models = tmp_path / "models"
    (tmp_path / "triage.toml").write_text(
        f'[database]\nurl = "{settings.database.url}"\n'
        f'[triage]\nmodel_path = "{models / "triage-model.skops"}"\nauto_train = false\n'
        "[desks.renewals]\n"
        f'folder = "{RENEWALS_FOLDER}"\ncorpus = "{ROOT / "data" / "corpus" / "renewals"}"\n'
        'languages = ["en", "fr", "es", "de"]\naddresses = ["renewals@example.com"]\n', encoding="utf-8")
    config = ["--config", str(tmp_path / "triage.toml")]

    trained = _run([*config, "train", "--desk", "renewals", "--json", "--by", "ann"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    info = json.loads(trained.stdout.splitlines()[-1])
    assert info["corrections"] == 1 and info["skipped_unknown_topic"] == 0  # the registry's correction is not offered
    own = models / "renewals"
    assert (own / info["version"] / "model.skops").is_file() and not (models / info["version"]).exists()

    listed = _run([*config, "models", "list", "--desk", "renewals", "--json"], tmp_path)
    assert [json.loads(line)["version"] for line in listed.stdout.splitlines()] == [info["version"]]
    assert _run([*config, "models", "list", "--json"], tmp_path).stdout.strip() == ""  # the default desk's: none
    promoted = _run([*config, "models", "promote", info["version"], "--desk", "renewals", "--by", "ann"], tmp_path)
    assert promoted.returncode == 0, promoted.stderr
    assert (own / "live").exists() and not (models / "live").exists()
    unknown = _run([*config, "models", "list", "--desk", "patents"], tmp_path)
    assert unknown.returncode != 0 and "unknown desk 'patents'" in unknown.stderr
