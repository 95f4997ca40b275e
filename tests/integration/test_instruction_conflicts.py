"""Renewal instructions across mail (SQLite and PostgreSQL, and the real CLI): a later mail of the same thread or
client organisation that says otherwise for a patent is held for a person with the reason; others' do not count."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select

from pipeline.config import DatabaseSettings, DeskSettings, MailboxSettings, Settings
from pipeline.desks import assign_desk
from pipeline.ingest import Ingestor
from pipeline.rounds.triage import triage_service
from pipeline.runtime import Runtime, open_runtime
from pipeline.sources.files import iter_paths
from pipeline.store.decisions import current_decision
from pipeline.store.instructions import instructions_of
from pipeline.store.models import DecisionRecord, InstructionRecord

ROOT = Path(__file__).resolve().parents[2]
TRIAGE = str(Path(sys.executable).with_name("triage"))
RENEWALS = ROOT / "config" / "desks" / "renewals"
PAY = "Please pay the annuity for EP 1 234 567 this year and keep the patent in force in all countries."
LAPSE = "We no longer need EP 1 234 567 for our products: please let EP 1 234 567 lapse at the next due date."
Q4_CONFLICT = ("Conflicting instructions for EP 1 234 567: pay (mail of 2026-11-02, 'Renewal instructions Q4') "
               "and now let lapse")


def _settings(url: str) -> Settings:
    return Settings(
        database=DatabaseSettings(url=url),
        desks={"renewals": DeskSettings(name="Renewals", folder=RENEWALS, corpus=ROOT / "data" / "corpus" / "renewals",
                                        languages=("en", "fr", "es", "de"))},
        mailboxes={"renewals": MailboxSettings(host="127.0.0.1", tls="none", password="x",  # type: ignore[arg-type]
                                               user="renewals@example.com", desk="renewals")},
    )


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[Settings, Runtime]]:
    settings = _settings(db_url)
    runtime = open_runtime(settings)
    try:
        yield settings, runtime
    finally:
        runtime.close()


def _mail(folder: Path, name: str, *, sender: str, subject: str, date: str, body: str,
          replying_to: str | None = None) -> Path:
    headers = [f"From: {sender}", "To: Meridian Renewals <renewals@example.com>", f"Subject: {subject}",
               f"Date: {date}", f"Message-ID: <{name}@mail.test>"]
    if replying_to:
        headers += [f"In-Reply-To: <{replying_to}@mail.test>", f"References: <{replying_to}@mail.test>"]
    path = folder / f"{name}.eml"
    path.write_text("\n".join(headers) + f"\n\nDear Account Team,\n\n{body}\n\nKind regards,\nAnna Berg\n",
                    encoding="utf-8")
    return path


def _ingest(desk: tuple[Settings, Runtime], *paths: Path) -> list[int]:
    settings, runtime = desk
    ingestor = Ingestor(runtime.session_factory, limits=runtime.parse_limits, sink=triage_service(runtime),
                        desk_for=lambda _mailbox, recipients: assign_desk(settings, "renewals", recipients))
    return ingestor.ingest(iter_paths(list(paths))).inquiry_ids


def _decision(runtime: Runtime, inquiry_id: int) -> DecisionRecord:
    with runtime.session_factory() as session:
        decision = current_decision(session, inquiry_id)
    assert decision is not None
    return decision


def test_a_later_mail_of_the_thread_that_says_otherwise_is_held_with_the_reason(
    desk: tuple[Settings, Runtime], tmp_path: Path,
) -> None:
    _, runtime = desk
    first = _mail(tmp_path, "q4-1", sender="Anna Berg <anna.berg@nordlicht.example>", subject="Renewal instructions Q4",
                  date="Mon, 02 Nov 2026 09:00:00 +0000", body=PAY)
    second = _mail(tmp_path, "q4-2", sender="Anna Berg <anna.berg@nordlicht.example>",
                   subject="Re: Renewal instructions Q4", date="Fri, 20 Nov 2026 10:00:00 +0000", body=LAPSE,
                   replying_to="q4-1")
    [pay_id] = _ingest(desk, first)
    [lapse_id] = _ingest(desk, second)
    pay, lapse = _decision(runtime, pay_id), _decision(runtime, lapse_id)
    assert pay.hold_reason != "conflicting_instructions" and not pay.signals["conflict"]
    assert (lapse.standard, lapse.queue, lapse.hold_reason) == (False, "renewals_processing",
                                                                "conflicting_instructions")
    assert lapse.reason.startswith(Q4_CONFLICT), lapse.reason
    assert lapse.signals["conflict"] == "EP1234567" and lapse.signals["instruction_detail"] == Q4_CONFLICT
    with runtime.session_factory() as session:
        assert instructions_of(session, pay_id) == [("EP1234567", "pay")]
        assert instructions_of(session, lapse_id) == [("EP1234567", "abandon")]

    # triaged again (after a model or rules change): each inquiry's rows are replaced, never doubled, the later
    # mail still conflicts and the earlier one is never compared with what came after it
    stats = triage_service(runtime).retriage_since(datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert stats.triaged == 2
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(InstructionRecord)) == 2
    assert _decision(runtime, lapse_id).hold_reason == "conflicting_instructions"
    assert _decision(runtime, pay_id).hold_reason != "conflicting_instructions"


def test_the_same_client_in_another_thread_counts_and_a_stated_change_is_held_as_a_change(
    desk: tuple[Settings, Runtime], tmp_path: Path,
) -> None:
    _, runtime = desk
    first = _mail(tmp_path, "c-1", sender="Anna Berg <anna.berg@nordlicht.example>", subject="Renewal instructions Q4",
                  date="Mon, 02 Nov 2026 09:00:00 +0000", body=PAY)
    colleague = _mail(tmp_path, "c-2", sender="Jonas Weber <j.weber@legal.nordlicht.example>",
                      subject="EP 1 234 567", date="Tue, 24 Nov 2026 08:30:00 +0000", body=LAPSE)
    repeat = _mail(tmp_path, "c-3", sender="Jonas Weber <j.weber@legal.nordlicht.example>",
                   subject="EP 1 234 567 again", date="Wed, 25 Nov 2026 08:30:00 +0000",
                   body="To confirm: please let EP 1 234 567 lapse, we do not want to pay for it any more.")
    change = _mail(tmp_path, "c-4", sender="Anna Berg <anna.berg@nordlicht.example>", subject="EP 1 234 567",
                   date="Thu, 26 Nov 2026 08:30:00 +0000",
                   body="Change of instruction: please cancel our earlier instruction and pay the annuity for "
                        "EP 1 234 567 after all.")
    ids = _ingest(desk, first, colleague, repeat, change)  # one batch: each compared with the ones before it
    decisions = [_decision(runtime, inquiry_id) for inquiry_id in ids]
    assert decisions[0].hold_reason != "conflicting_instructions"
    assert (decisions[1].queue, decisions[1].hold_reason) == ("renewals_processing", "conflicting_instructions")
    assert decisions[1].reason.startswith(Q4_CONFLICT)
    assert not decisions[2].signals["conflict"]  # the same instruction again is no conflict
    assert (decisions[3].standard, decisions[3].queue, decisions[3].hold_reason) == (
        False, "renewals_processing", "instruction_changed")
    assert decisions[3].reason.startswith(
        "Instruction changed for EP 1 234 567: let lapse (mail of 2026-11-25, 'EP 1 234 567 again'), now pay")


def test_instructions_of_another_client_or_past_the_window_do_not_count(
    desk: tuple[Settings, Runtime], tmp_path: Path,
) -> None:
    _, runtime = desk
    other = _mail(tmp_path, "o-1", sender="Tom Price <tom@vantage-medical.example>", subject="Renewal instructions Q4",
                  date="Mon, 02 Nov 2026 09:00:00 +0000", body=PAY)
    old = _mail(tmp_path, "o-2", sender="Anna Berg <anna.berg@nordlicht.example>", subject="Renewal instructions",
                date="Mon, 04 May 2026 09:00:00 +0000", body=PAY)
    lapse = _mail(tmp_path, "o-3", sender="Anna Berg <anna.berg@nordlicht.example>", subject="EP 1 234 567",
                  date="Fri, 20 Nov 2026 10:00:00 +0000", body=LAPSE)
    ids = _ingest(desk, other, old, lapse)
    decision = _decision(runtime, ids[2])
    assert not decision.signals["conflict"] and decision.hold_reason not in ("conflicting_instructions",
                                                                             "instruction_changed")
    assert decision.signals["instructions"] == [{"patent": "EP1234567", "instruction": "abandon"}]


def test_through_the_cli_the_second_mail_of_a_thread_is_held(tmp_path: Path) -> None:
    database = tmp_path / "triage.db"
    (tmp_path / "triage.toml").write_text(
        f'[database]\nurl = "sqlite:///{database}"\n'
        f'[desks.renewals]\nfolder = "{RENEWALS}"\ncorpus = "{ROOT / "data" / "corpus" / "renewals"}"\n'
        'languages = ["en", "fr", "es", "de"]\naddresses = ["renewals@example.com"]\n', encoding="utf-8")
    first = _mail(tmp_path, "t-1", sender="Anna Berg <anna.berg@nordlicht.example>", subject="Renewal instructions Q4",
                  date="Mon, 02 Nov 2026 09:00:00 +0000", body=PAY)
    second = _mail(tmp_path, "t-2", sender="Anna Berg <anna.berg@nordlicht.example>",
                   subject="Re: Renewal instructions Q4", date="Fri, 20 Nov 2026 10:00:00 +0000", body=LAPSE,
                   replying_to="t-1")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    for path in (first, second):
        result = subprocess.run([TRIAGE, "--config", str(tmp_path / "triage.toml"), "ingest", "--desk", "renewals",
                                 str(path)], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    runtime = open_runtime(_settings(f"sqlite:///{database}"))
    try:
        with runtime.session_factory() as session:
            reasons = dict(session.execute(select(DecisionRecord.inquiry_id, DecisionRecord.reason)
                                           .where(DecisionRecord.is_current.is_(True))).all())
            held = session.scalar(select(DecisionRecord.hold_reason).where(DecisionRecord.inquiry_id == max(reasons)))
    finally:
        runtime.close()
    assert held == "conflicting_instructions" and reasons[max(reasons)].startswith(Q4_CONFLICT)
