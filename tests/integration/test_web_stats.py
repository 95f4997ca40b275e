"""The statistics page on real SQLite and PostgreSQL: desks among the volumes, inline SVG charts, Excel downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from openpyxl import load_workbook

from pipeline.runtime import Runtime
from pipeline.store.db import unit_of_work
from pipeline.store.models import Inquiry, Suggestion
from pipeline.store.stats import XLSX_MEDIA_TYPE
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    context_for,
    decide,
    hours_ago,
    make_user,
    module_runtime,
    serve_in_thread,
    store_messages,
)
from tests.support.mail import make_message
from webapp.services.cases import sync_cases

SHEETS = ["inquiries_per_day", "inquiries_per_week", "response_times", "drafts", "routing_rules"]


@pytest.fixture(scope="module")
def server(module_runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    runtime = module_runtime
    senders = ["Jane Doe <jane@example.com>", "Jane Doe <jane@example.com>", "Ann <ann@mail.example-firm.co.uk>",
               "Jane <jane.doe@gmail.com>"]  # the last: free mail, no organisation
    ids = store_messages(runtime, [make_message(f"Question {n}", message_id=f"<ws{n}@example.com>", sender=sender)
                                   for n, sender in enumerate(senders)])
    decide(runtime, ids[0], received_at=hours_ago(30))
    decide(runtime, ids[1], received_at=hours_ago(10), topic="fees")
    decide(runtime, ids[2], received_at=hours_ago(5), topic="=cmd|' /C calc'!A0")  # a formula-like topic
    decide(runtime, ids[3], received_at=hours_ago(4), queue="legal", topic="decision", standard=False)
    with unit_of_work(runtime.session_factory) as session:
        for inquiry_id in (ids[1], ids[3]):
            inquiry = session.get(Inquiry, inquiry_id)
            assert inquiry is not None
            inquiry.desk = "renewals"
        session.add(Suggestion(inquiry_id=ids[0], kind="reply", status="sent", language="en", subject="Re",
                               body_text="Answer", to_address="jane@example.com", template_id="renewal/en",
                               approved_at=hours_ago(26), sent_at=hours_ago(26)))
    sync_cases(runtime.session_factory, until_done=True)
    make_user(runtime, "ada", role="admin")
    make_user(runtime, "sam", queues=["customer_service"])
    make_user(runtime, "ivy", queues=["it"])  # a queue with nothing in it
    with serve_in_thread(context_for(runtime, tmp_path_factory.mktemp("web"))) as running:
        yield running.url


def browser(url: str, username: str) -> Browser:
    logged_in = Browser(url)
    logged_in.login(username)
    return logged_in


def workbook(response: object) -> object:
    return load_workbook(io.BytesIO(response.content))  # type: ignore[attr-defined]


def test_page_has_the_charts_as_inline_svg_and_desks_among_the_volumes(server: str) -> None:
    ada = browser(server, "ada")
    try:
        page = ada.get("/stats?days=30")
        assert page.status_code == 200
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]  # the page's strict CSP, unchanged
        text = page.text
        assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
        assert 'role="img"' in text and "<title id=\"chart-inquiries_per_week-title\">Inquiries per week by topic" \
            in text
        assert "Share of suggested replies approved unchanged, per template" in text
        assert "<script" not in text.split("<svg", 1)[1].rsplit("</svg>", 1)[0]
        assert " style=" not in text and "<style" not in text
        assert 'href="/stats.xlsx?days=30"' in text and 'href="/stats/drafts.csv?days=30"' in text
        assert "Inquiries per week by topic, language, queue and desk" in text
        rows = list(csv.reader(io.StringIO(ada.get("/stats/inquiries_per_week.csv?days=30").text)))
        desks: dict[str, int] = {}
        for _, by, value, n in rows[1:]:
            if by == "desk":
                desks[value] = desks.get(value, 0) + int(n)
        assert desks == {"registry": 2, "renewals": 2}
    finally:
        ada.close()


def test_excel_download_of_every_table(server: str) -> None:
    ada = browser(server, "ada")
    try:
        response = ada.get("/stats.xlsx?days=30")
        assert response.status_code == 200
        assert response.headers["content-type"] == XLSX_MEDIA_TYPE
        assert response.headers["content-disposition"] == 'attachment; filename="stats-all-30d.xlsx"'
        book = workbook(response)
        assert book.sheetnames == SHEETS  # type: ignore[attr-defined]
        week = [[c.value for c in row] for row in book["inquiries_per_week"].iter_rows()]  # type: ignore[index]
        assert week[0] == ["week", "by", "value", "inquiries"]
        assert all(isinstance(row[3], int) for row in week[1:])  # numbers as numbers
        assert sum(row[3] for row in week[1:] if row[1] == "desk") == 4
        topics = {row[2] for row in week[1:] if row[1] == "topic"}
        assert "'=cmd|' /C calc'!A0" in topics  # defused as in the CSV: text, never a formula
        assert all(cell.data_type != "f" for sheet in book.worksheets  # type: ignore[attr-defined]
                   for row in sheet.iter_rows() for cell in row)

        one = ada.get("/stats.xlsx?days=7&table=drafts")
        assert one.status_code == 200 and workbook(one).sheetnames == ["drafts"]  # type: ignore[attr-defined]
        assert 'filename="stats-drafts-7d.xlsx"' in one.headers["content-disposition"]
        recurrent = ada.get("/stats/recurrent.xlsx?days=30")
        assert recurrent.status_code == 200 and recurrent.headers["content-type"] == XLSX_MEDIA_TYPE
        assert workbook(recurrent).sheetnames == ["recurrent_issues"]  # type: ignore[attr-defined]
        assert 'href="/stats/recurrent.xlsx?days=30"' in ada.get("/stats/recurrent?days=30").text
    finally:
        ada.close()


def organisations_of(rows: list[list[object]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for _, by, value, n in rows:
        if by == "organisation":
            found[str(value)] = found.get(str(value), 0) + int(str(n))
    return found


def test_client_organisation_among_the_volumes_free_mail_as_none(server: str) -> None:
    ada, sam = browser(server, "ada"), browser(server, "sam")
    try:
        expected = {"example.com": 2, "example-firm.co.uk": 1, "(none)": 1}
        page = ada.get("/stats?days=30").text
        assert "by client organisation" in page and "<td>organisation</td><td>example-firm.co.uk</td>" in page
        assert "(other)" not in page and "Organisations: the" not in page  # few organisations: all shown
        for table in ("inquiries_per_day", "inquiries_per_week"):
            rows = list(csv.reader(io.StringIO(ada.get(f"/stats/{table}.csv?days=30").text)))
            assert organisations_of(rows[1:]) == expected, table
        book = workbook(ada.get("/stats.xlsx?days=30"))
        for table in ("inquiries_per_day", "inquiries_per_week"):
            rows = [list(r) for r in book[table].iter_rows(min_row=2, values_only=True)]  # type: ignore[index]
            assert organisations_of(rows) == expected, table
        # staff: the organisations of their queues' cases (the free-mail one is in legal)
        sam_rows = list(csv.reader(io.StringIO(sam.get("/stats/inquiries_per_week.csv?days=30").text)))
        assert organisations_of(sam_rows[1:]) == {"example.com": 2, "example-firm.co.uk": 1}
    finally:
        ada.close()
        sam.close()


def test_page_sums_the_smaller_organisations_and_says_so(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import webapp.services.stats

    monkeypatch.setattr(webapp.services.stats, "ORGANISATIONS_SHOWN", 1)
    ada = browser(server, "ada")
    try:
        page = ada.get("/stats?days=30").text
        assert "<td>organisation</td><td>(other)</td><td>1</td>" in page
        assert "<td>organisation</td><td>example.com</td>" in page and "<td>(none)</td>" in page
        assert "<td>example-firm.co.uk</td>" not in page
        assert "Organisations: the 1 with the most inquiries in the period have rows of their own, the other 1 are" \
               " summed as (other); the CSV and the Excel workbook have every organisation." in page
        # the downloads have every organisation
        rows = list(csv.reader(io.StringIO(ada.get("/stats/inquiries_per_week.csv?days=30").text)))
        assert organisations_of(rows[1:]) == {"example.com": 2, "example-firm.co.uk": 1, "(none)": 1}
        book = workbook(ada.get("/stats.xlsx?days=30"))
        assert "(other)" not in {row[2] for row in book["inquiries_per_day"].iter_rows(  # type: ignore[index]
            min_row=2, values_only=True)}
    finally:
        ada.close()


def test_bad_input_is_a_clear_error_and_an_empty_period_an_empty_workbook(server: str) -> None:
    ivy, sam = browser(server, "ivy"), browser(server, "sam")
    try:
        unknown = sam.get("/stats.xlsx?days=30&table=nope")
        assert unknown.status_code == 404 and "no table" in unknown.text
        assert sam.get("/stats/nope.csv?days=30").status_code == 404
        assert sam.get("/stats.xlsx?days=3").status_code == 400
        assert sam.get("/stats.xlsx?days=abc").status_code in (400, 422)
        anonymous = Browser(server)
        try:
            assert anonymous.get("/stats.xlsx?days=30").status_code != 200  # not logged in
        finally:
            anonymous.close()
        # staff see their queues only: the legal case is not sam's
        sam_book = workbook(sam.get("/stats.xlsx?days=30"))
        queues = {row[2] for row in sam_book["inquiries_per_week"].iter_rows(  # type: ignore[index]
            min_row=2, values_only=True) if row[1] == "queue"}
        assert queues == {"customer_service"}
        # nothing in ivy's queue: empty tables, no chart, a valid workbook of header rows
        page = ivy.get("/stats?days=7")
        assert page.status_code == 200 and "<svg" not in page.text and "Nothing in this period." in page.text
        empty = ivy.get("/stats.xlsx?days=7")
        assert empty.status_code == 200
        book = workbook(empty)
        assert book.sheetnames == SHEETS  # type: ignore[attr-defined]
        assert all(sheet.max_row == 1 for sheet in book.worksheets)  # type: ignore[attr-defined]
    finally:
        ivy.close()
        sam.close()
