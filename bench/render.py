"""Benchmark: suggested replies rendered per second, and the time from approval to the reply having left.

1. Rendering: 10,000 realistic messages (built from the labelled corpus, as bench/triage.py
   does) are parsed and triaged once; then the suggest step (choose the template, build its
   variables, render it in the sandbox, text and HTML) and the compose step (headers, MIME,
   bytes) are timed over all of them. The triage stages are timed in the same run on the same
   messages for comparison. Target: rendering is never the slowest stage of the pipeline.
2. Approval to delivery: inquiries stored in SQLite are suggested; each is approved and
   delivered at once (as "approve" in the review app followed by the delivery worker), into a
   real Dovecot's Drafts (IMAP APPEND) and through a real SMTP server (aiosmtpd, STARTTLS and
   AUTH, copy APPENDed to Sent), both on loopback. Prints the median and p95 of the time from
   the approval to the reply being in Drafts or accepted by SMTP (and recorded).

    .venv/bin/python bench/render.py [--messages 10000] [--deliveries 200]
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one core, as bench/triage.py measures

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
BATCH = 200


def timed(label: str, count: int, func: Callable[[], Any], rates: dict[str, float]) -> Any:
    """Run ``func`` once, print and keep its rate in items per second."""
    started = time.perf_counter()
    value = func()
    seconds = time.perf_counter() - started
    rates[label] = count / seconds
    print(f"{label:<34} {count / seconds:>10,.0f} /s   ({seconds:.2f} s for {count})", flush=True)
    return value


def rendering(count: int) -> None:
    """Part 1: the suggest and compose steps against the triage stages, on the same messages."""
    from corpus_mail import build_messages

    from classifiers.config import load_triage_config, resolve
    from classifiers.corpus import corpus_files, read_corpus
    from classifiers.inputs import TriageInput, language_text, topic_text
    from classifiers.language import detect_languages
    from classifiers.registry import load_or_train
    from classifiers.triage import find_entities, triage_inputs
    from pipeline.config import load_settings
    from pipeline.errors import ParseError
    from pipeline.mail.parse import parse_message
    from responders.compose import OutgoingMail, compose, message_bytes
    from responders.context import ReplyContext
    from responders.facts import facts_from_parsed
    from responders.suggest import Reply, suggest_reply

    os.chdir(ROOT)
    settings = load_settings().settings
    config = load_triage_config(settings.triage)
    model = load_or_train(settings.triage, config)
    context = ReplyContext.load(settings)
    examples, _ = read_corpus(corpus_files(resolve(settings.triage.corpus)))
    raws = [raw for raw, _ in build_messages(examples, count)]
    print(f"part 1: {len(raws)} messages, model {model.version}, {len(context.library.digests)} templates, one core")
    rates: dict[str, float] = {}

    def parse_all() -> list[Any]:
        out: list[Any] = []
        for raw in raws:
            try:
                out.append(parse_message(raw))
            except ParseError:
                out.append(None)
        return out

    parsed = timed("parse", len(raws), parse_all, rates)
    kept = [p for p in parsed if p is not None]
    items = [TriageInput.from_parsed(p) for p in kept]
    taxonomy = config.taxonomy
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    timed("triage: language", len(items), lambda: [detect_languages(
        [language_text(i) for i in chunk], model.language, working=taxonomy.working_languages,
        min_letters=taxonomy.min_letters, working_prior=taxonomy.working_prior) for chunk in batches], rates)
    timed("triage: topic", len(items), lambda: [model.topics.classify([topic_text(i) for i in chunk])
                                                 for chunk in batches], rates)
    timed("triage: entities", len(items), lambda: [find_entities(i) for i in items], rates)
    decisions = timed("triage: all stages", len(items),
                      lambda: [d for chunk in batches for d in triage_inputs(chunk, model, config)], rates)
    facts = [facts_from_parsed(p, inquiry_id=n + 1) for n, p in enumerate(kept)]
    pairs = list(zip(decisions, facts))

    def suggest_all(require_standard: bool) -> list[Any]:
        return [suggest_reply(d, f, context.library, context.policy, require_standard=require_standard)
                for d, f in pairs]

    as_routed = timed("suggest (standard ones only)", len(pairs), lambda: suggest_all(True), rates)
    replies = [r for r in suggest_all(False) if isinstance(r, Reply)]
    rendered = timed("suggest + render, every inquiry", len(pairs), lambda: suggest_all(False), rates)
    assert len([r for r in rendered if isinstance(r, Reply)]) == len(replies)
    mails = [OutgoingMail("helpdesk@registry.example.org", "International Design Registry", r.to_address, r.to_name,
                          r.subject, f"triage.{n}.bench@registry.example.org", time_now(), r.in_reply_to,
                          r.references, False, r.language) for n, r in enumerate(replies)]
    timed("compose to bytes (MIME, headers)", len(mails),
          lambda: [message_bytes(compose(m, r.text, r.html)) for m, r in zip(mails, replies)], rates)
    standard = sum(isinstance(r, Reply) for r in as_routed)
    print(f"replies suggested: {standard} of {len(pairs)} as routed (standard ones); {len(replies)} rendered when "
          "every inquiry in a working language is answered (the rest: other languages, automatic mail, no template)")
    slowest = min((label for label in rates if label.startswith(("parse", "triage:")) and label != "triage: all stages"),
                  key=rates.__getitem__)
    render_rate = rates["suggest + render, every inquiry"]
    print(f"slowest pipeline stage: {slowest} at {rates[slowest]:,.0f}/s; rendering at {render_rate:,.0f}/s is "
          f"{render_rate / rates[slowest]:.1f}x faster ({'never the slowest: OK' if render_rate > rates[slowest] else 'SLOWEST'})")


def time_now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def delivery(count: int) -> None:
    """Part 2: approval to Drafts (IMAP APPEND) and to SMTP acceptance, real servers on loopback."""
    from pipeline.config import DatabaseSettings, DeliverySettings, MailboxSettings, Settings, SmtpSettings
    from pipeline.runtime import open_runtime
    from pipeline.store.db import unit_of_work
    from responders.context import ReplyContext
    from responders.deliver import Connections
    from webapp.services import suggestions as service
    from webapp.services.suggestions import deliver_one
    from responders.mailboxes import MailboxTransports
    from tests.support.dovecot import dovecot_server
    from tests.support.mail import make_message
    from tests.support.replies import store_triaged
    from tests.support.smtp import smtp_server

    text = "We paid CHF 1,234.50 for A1234567 but only CHF 934.50 was due. Please refund the difference."
    print(f"part 2: {count} approvals per mode, SQLite, Dovecot and aiosmtpd (STARTTLS + AUTH) on 127.0.0.1")
    with dovecot_server() as dovecot, smtp_server("starttls") as smtp, tempfile.TemporaryDirectory() as tmp:
        for mode in ("drafts", "smtp"):
            user = dovecot.fresh_user()
            delivery_settings = DeliverySettings(
                mode=mode, from_address="helpdesk@registry.example.org",  # type: ignore[arg-type]
                smtp=SmtpSettings(host=smtp.host, port=smtp.port, tls="starttls", ca_file=smtp.ca_file,
                                  user="desk@registry.example.org", password="smtp-secret"))  # type: ignore[arg-type]
            mailbox = MailboxSettings(host=dovecot.host, port=dovecot.port, tls="starttls", ca_file=dovecot.ca_file,
                                      user=user, password=dovecot.users[user], delivery=delivery_settings)  # type: ignore[arg-type]
            settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp}/{mode}.db"), mailboxes={"desk": mailbox})
            runtime = open_runtime(settings)
            context = ReplyContext.load(settings)
            ids = []
            for n in range(count):
                raw = make_message(text, subject=f"Refund {n}", sender=f"Client {n} <c{n}@example.co.uk>",
                                   message_id=f"<bench-{mode}-{n}@example.co.uk>")
                inquiry_id = store_triaged(runtime, raw, text_for_entities=text)
                with unit_of_work(runtime.session_factory) as session:
                    info = service.suggest_for_inquiry(session, inquiry_id, context)
                    assert isinstance(info, service.SuggestionInfo)
                    ids.append(info.id)
            for label, reuse in (("kept connections", True), ("new connections each", False)):
                latencies = []
                connections = Connections(MailboxTransports(settings))
                for suggestion_id in ids[: count // 2] if reuse else ids[count // 2 :]:
                    started = time.perf_counter()
                    with unit_of_work(runtime.session_factory) as session:
                        service.approve(session, suggestion_id, "bench", context)
                    outcome = deliver_one(runtime.session_factory, context, connections, suggestion_id)
                    latencies.append(time.perf_counter() - started)
                    assert outcome.outcome == "sent", outcome
                    if not reuse:
                        connections.close()
                connections.close()
                print(f"approval -> {'Drafts (IMAP APPEND)' if mode == 'drafts' else 'SMTP accepted + Sent copy':<27} "
                      f"{label:<20} median {statistics.median(latencies) * 1000:6.1f} ms   "
                      f"p95 {_percentile(latencies, 0.95) * 1000:6.1f} ms   (n={len(latencies)})", flush=True)
            runtime.close()
        print(f"SMTP server received {len(smtp.received)} messages (expected {count})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    rendering(args.messages)
    delivery(args.deliveries)


if __name__ == "__main__":
    main()
