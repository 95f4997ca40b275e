"""``triage stats`` on real SQLite and PostgreSQL: tables as text, JSON and CSV, bad options refused."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import Inquiry, Suggestion
from pipeline.store.replies import SENT
from tests.e2e.web import decide, hours_ago, store_messages
from tests.support.mail import make_message
from webapp.services.cases import sync_cases

TRIAGE = [str(Path(sys.executable).with_name("triage"))]


def run(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environment["TRIAGE_DATABASE_URL"] = url
    return subprocess.run(TRIAGE + args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def seed(runtime: Runtime) -> list[int]:
    ids = store_messages(runtime, [make_message(f"Question {n}", message_id=f"<st{n}@example.com>") for n in range(3)])
    decide(runtime, ids[0], received_at=hours_ago(30))
    decide(runtime, ids[1], received_at=hours_ago(10), topic="fees")
    decide(runtime, ids[2], received_at=hours_ago(5), queue="legal", topic="decision", standard=False)
    with unit_of_work(runtime.session_factory) as session:
        inquiry = session.scalar(select(Inquiry).where(Inquiry.id == ids[0]))
        assert inquiry is not None
        session.add(Suggestion(inquiry_id=ids[0], kind="reply", status=SENT, language="en", subject="Re",
                               body_text="Answer", to_address="jane@example.com", template_id="renewal/en",
                               approved_at=hours_ago(26), sent_at=hours_ago(26)))
    sync_cases(runtime.session_factory, until_done=True)
    return ids


def test_stats_as_json_and_csv(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    seed(runtime)
    result = run(["stats", "--json", "--days", "7"], tmp_path, db_url)
    assert result.returncode == 0, result.stderr
    tables = {t["name"]: t for t in json.loads(result.stdout)["tables"]}
    assert set(tables) == {"inquiries_per_day", "inquiries_per_week", "response_times", "drafts", "routing_rules"}
    assert sum(r["inquiries"] for r in tables["inquiries_per_week"]["rows"] if r["by"] == "queue") == 3
    first = next(r for r in tables["response_times"]["rows"]
                 if r["queue"] == "customer_service" and r["measure"] == "first response")
    assert first["cases"] == 2 and first["done"] == 1 and 3.9 < first["p50_hours"] < 4.1
    assert tables["drafts"]["rows"] == [{"topic": "renewal", "template": "renewal/en", "decided": 1, "unchanged": 1,
                                         "edited": 0, "discarded": 0, "share_unchanged": 1.0, "share_edited": 0.0,
                                         "share_discarded": 0.0}]
    assert {(r["rule"], r["queue"], r["fired"]) for r in tables["routing_rules"]["rows"]} == {
        ("standard", "customer_service", 2), ("test", "legal", 1)}

    out = tmp_path / "csv"
    result = run(["stats", "--csv", "--out", str(out)], tmp_path, db_url)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO((out / "routing_rules.csv").read_text())))
    assert rows[0] == ["rule", "queue", "fired", "share"] and len(rows) == 3
    grouped = run(["stats", "--recurrent", "--table", "recurrent_issues", "--json"], tmp_path, db_url)
    assert grouped.returncode == 0, grouped.stderr
    assert json.loads(grouped.stdout)["tables"][0]["columns"][:2] == ["topic", "inquiries"]
    printed = run(["stats", "--csv", "--table", "drafts"], tmp_path, db_url)
    assert printed.stdout.splitlines()[:2] == ["# drafts", "topic,template,decided,unchanged,edited,discarded,"
                                               "share_unchanged,share_edited,share_discarded"]


def test_stats_refuses_bad_options_with_a_message(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    for args, message in ((["--since", "yesterday"], "YYYY-MM-DD"), (["--json", "--csv"], "not both"),
                          (["--table", "nope"], "no table"), (["--since", "2026-12-05", "--until", "2026-12-01"],
                                                              "after")):
        result = run(["stats", *args], tmp_path, db_url)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)


def test_stats_per_desk_and_as_an_excel_workbook(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    ids = seed(runtime)
    with unit_of_work(runtime.session_factory) as session:
        inquiry = session.get(Inquiry, ids[1])
        assert inquiry is not None
        inquiry.desk = "renewals"  # the others have none: stored before desks, so the default desk's
    result = run(["stats", "--json", "--days", "7", "--table", "inquiries_per_week"], tmp_path, db_url)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["tables"][0]["rows"]
    desks: dict[str, int] = {}
    for row in rows:
        if row["by"] == "desk":
            desks[row["value"]] = desks.get(row["value"], 0) + row["inquiries"]
    assert desks == {"registry": 2, "renewals": 1}
    assert set(rows[0]) == {"week", "by", "value", "inquiries"}

    path = tmp_path / "out" / "stats.xlsx"
    result = run(["stats", "--days", "7", "--xlsx", str(path)], tmp_path, db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: 5 tables, ")
    book = load_workbook(path)
    assert book.sheetnames == ["inquiries_per_day", "inquiries_per_week", "response_times", "drafts",
                               "routing_rules"]
    drafts = [[c.value for c in row] for row in book["drafts"].iter_rows()]
    assert drafts == [["topic", "template", "decided", "unchanged", "edited", "discarded", "share_unchanged",
                       "share_edited", "share_discarded"], ["renewal", "renewal/en", 1, 1, 0, 0, 1, 0, 0]]
    assert book["drafts"].freeze_panes == "A2" and book["drafts"]["A1"].font.b
    assert not list(tmp_path.glob("out/.*"))  # no partial file left behind

    # a period with nothing in it: empty tables, a valid workbook of header rows
    empty = tmp_path / "empty.xlsx"
    result = run(["stats", "--since", "2001-01-01", "--until", "2001-01-31", "--xlsx", str(empty)], tmp_path, db_url)
    assert result.returncode == 0, result.stderr
    book = load_workbook(empty)
    assert len(book.sheetnames) == 5 and all(sheet.max_row == 1 for sheet in book.worksheets)
    one = tmp_path / "one.xlsx"
    result = run(["stats", "--table", "routing_rules", "--xlsx", str(one)], tmp_path, db_url)
    assert result.returncode == 0 and load_workbook(one).sheetnames == ["routing_rules"]


def test_stats_per_client_organisation_free_mail_and_none_as_none(runtime: Runtime, db_url: str,
                                                                  tmp_path: Path) -> None:
    from openpyxl import load_workbook

    ids = seed(runtime)  # three from jane@example.com
    more = store_messages(runtime, [
        make_message("Fee?", message_id="<so1@x>", sender="Ann <ann@mail.example-firm.co.uk>"),
        make_message("Fee?", message_id="<so2@x>", sender="Ben <ben@example-firm.co.uk>"),
        make_message("Fee?", message_id="<so3@x>", sender="Jane <jane.doe@gmail.com>"),  # free mail: none
        make_message("Fee?", message_id="<so4@x>", sender="Cid <cid@xn--bcher-kva.de>"),
        make_message("Fee?", message_id="<so5@x>", sender="Dan <dan@example.org>"),
    ])
    for n, inquiry_id in enumerate(more):
        decide(runtime, inquiry_id, received_at=hours_ago(3 + n), topic="fees")
    with unit_of_work(runtime.session_factory) as session:
        inquiry = session.get(Inquiry, more[4])
        assert inquiry is not None
        inquiry.organisation = None  # as if its sender's domain had not been recorded
    sync_cases(runtime.session_factory, until_done=True)
    expected = {"example.com": 3, "example-firm.co.uk": 2, "bücher.de": 1, "(none)": 2}

    def per_organisation(rows: list[list[object]]) -> dict[str, int]:
        found: dict[str, int] = {}
        for _, by, value, n in rows:
            if by == "organisation":
                found[str(value)] = found.get(str(value), 0) + int(str(n))
        return found

    for table in ("inquiries_per_day", "inquiries_per_week"):
        result = run(["stats", "--json", "--days", "7", "--table", table], tmp_path, db_url)
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)["tables"][0]["rows"]
        assert per_organisation([list(r.values()) for r in rows]) == expected, table
        assert sum(r["inquiries"] for r in rows if r["by"] == "queue") == len(ids) + len(more)
    printed = run(["stats", "--csv", "--days", "7", "--table", "inquiries_per_week"], tmp_path, db_url)
    assert printed.returncode == 0, printed.stderr
    lines = list(csv.reader(io.StringIO(printed.stdout.split("\n", 1)[1])))
    assert lines[0] == ["week", "by", "value", "inquiries"] and per_organisation(lines[1:]) == expected
    path = tmp_path / "org.xlsx"
    result = run(["stats", "--days", "7", "--xlsx", str(path)], tmp_path, db_url)
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(path)["inquiries_per_day"]
    assert per_organisation([list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]) == expected


def test_stats_xlsx_refuses_other_formats_and_unknown_tables(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    target = tmp_path / "x.xlsx"
    for args, message in ((["--xlsx", str(target), "--json"], "not with --json or --csv"),
                          (["--xlsx", str(target), "--csv"], "not with --json or --csv"),
                          (["--xlsx", str(target), "--table", "nope"], "no table")):
        result = run(["stats", *args], tmp_path, db_url)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
    assert not target.exists()
