"""The inquiry page: headers, new text and quoted history apart, references marked, the decision and why,
the thread, attachments with their own type, and HTML mail made harmless."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime, timezone
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from pipeline.runtime import Runtime
from tests.e2e.web import (  # noqa: F401  (fixtures)
    Browser,
    context_for,
    decide,
    make_user,
    module_runtime,
    serve_in_thread,
    store_messages,
)
from tests.support.mail import make_message

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40
EVIL_HTML = """<html><head><style>body{display:none} .x{background:url(https://track.example/css.gif)}</style>
<meta http-equiv="refresh" content="0;url=https://evil.example/"><base href="https://evil.example/">
<script>document.title='pwned'</script></head>
<body onload="alert(1)"><p>Dear office, about <b>DM/212 345</b>.</p>
<a href="javascript:alert(2)">click</a> <a href="https://office.example/help">help</a>
<img src="https://track.example/pixel.gif?id=42" width="1" height="1">
<div style="position:fixed;top:0;left:0;width:100%;height:100%;background:red">overlay</div>
<p style="color:red; background-image:url(https://track.example/bg.gif)">styled</p>
<span style="color:blue;position:absolute;top:0">kept colour</span>
<iframe src="https://evil.example/frame"></iframe><form action="https://evil.example/"><input name="pw"></form>
<svg onload="alert(3)"><circle r="5"/></svg><object data="x.swf"></object>
<a href="data:text/html,<script>alert(4)</script>">data link</a></body></html>"""


def with_attachments() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Schmidt <anna@example.de>"
    msg["To"] = "helpdesk@registry.example.org"
    msg["Subject"] = "Renewal of DM/212 345 with documents"
    msg["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    msg["Message-ID"] = "<att@example.de>"
    msg.set_content("Dear Sir or Madam,\n\nPlease renew DM/212 345 and EP 3 456 789 before 15 March 2027; "
                    "we paid CHF 1,234.50.\n\nOn 1 March, Office wrote:\n> Your renewal is due.\n> Regards\n"
                    "\n-- \nAnna Schmidt\nSchmidt IP\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="certificate.pdf")
    msg.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html", filename="evil.html")
    msg.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream",
                       filename='we"ird\tname;\u202e.exe')
    return bytes(msg)


@pytest.fixture(scope="module")
def world(module_runtime: Runtime) -> dict[str, int]:
    runtime = module_runtime
    first, reply, html, huge, other = store_messages(runtime, [
        with_attachments(),
        make_message("Thanks, and what about the fee?", subject="Re: Renewal of DM/212 345 with documents",
                     message_id="<att-reply@example.de>", date=datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc),
                     headers={"In-Reply-To": "<att@example.de>", "References": "<att@example.de>"}),
        make_message("Dear office, about DM/212 345.", html=EVIL_HTML, subject="HTML mail",
                     message_id="<html@example.com>"),
        make_message("Renewal question DM/212 345. " + "lorem ipsum dolor sit amet " * 40_000,
                     subject="Huge", message_id="<huge@example.com>"),
        make_message("Legal matter", subject="Other queue", message_id="<other@example.com>"),
    ])
    entities = [{"kind": "registration", "value": "DM/212345", "start": 38, "end": 48, "source": "body"}]
    for inquiry_id in (first, reply, html, huge):
        decide(runtime, inquiry_id, entities=entities,
               reason="Standard question about a renewal in 'en' (topic confidence 0.91): front desk.")
    decide(runtime, other, queue="legal", topic="decision", standard=False)
    make_user(runtime, "sam", queues=["customer_service"])
    return {"first": first, "reply": reply, "html": html, "huge": huge, "other": other}


@pytest.fixture(scope="module")
def sam(module_runtime: Runtime, world: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with serve_in_thread(context_for(module_runtime, tmp_path_factory.mktemp("web"))) as server:
        browser = Browser(server.url)
        browser.login("sam")
        yield browser
        browser.close()


def test_headers_texts_references_decision_and_thread(sam: Browser, world: dict[str, int]) -> None:
    page = sam.get(f"/inquiries/{world['first']}").text
    assert "Anna Schmidt &lt;anna@example.de&gt;" in page
    assert "helpdesk@registry.example.org" in page and "att@example.de" in page
    new_text = page.split("<h3>New text</h3>", 1)[1].split("</div>", 1)[0]
    assert "Please renew" in new_text and "Your renewal is due" not in new_text and "Schmidt IP" not in new_text
    assert re.search(r"Quoted history</summary><div class=\"text quoted\">On 1 March, Office wrote:\n&gt; Your",
                     page)
    assert "<summary>Signature</summary>" in page
    assert '<mark class="ent ent-registration" title="registration: DM/212345">DM/212 345</mark>' in page
    assert '<mark class="ent ent-patent" title="patent: EP3456789">EP 3 456 789</mark>' in page
    assert 'title="amount: CHF 1234.50"' in page and 'title="date: 2027-03-15"' in page
    assert "91% (high)" in page and "<code>renewal</code>" in page
    assert "Standard question about a renewal" in page and "rule <code>standard</code>" in page
    assert f'<a href="/inquiries/{world["reply"]}">Re: Renewal of DM/212 345 with documents</a>' in page
    assert "All headers</summary><pre class=\"raw\">" in page and "Message-ID: &lt;att@example.de&gt;" in page
    data = sam.get(f"/api/inquiries/{world['first']}").json()
    assert data["decision"]["top_terms"] == ["renewal", "fee"] and data["case"]["queue"] == "customer_service"
    assert [t["inquiry_id"] for t in data["thread"]] == [world["first"], world["reply"]]


def test_attachments_download_with_their_type_never_inline(sam: Browser, world: dict[str, int]) -> None:
    page = sam.get(f"/inquiries/{world['first']}").text
    links = re.findall(rf'href="(/inquiries/{world["first"]}/attachments/\d+)" download>([^<]+)<', page)
    assert [name for _, name in links][:2] == ["certificate.pdf", "evil.html"]
    pdf = sam.get(links[0][0])
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith('attachment; filename="certificate.pdf"')
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert pdf.headers["content-security-policy"] == "default-src 'none'; sandbox"
    html = sam.get(links[1][0])
    assert html.content == b"<script>alert(1)</script>"
    assert html.headers["content-disposition"].startswith("attachment;")
    weird = sam.get(links[2][0])
    disposition = weird.headers["content-disposition"]
    assert weird.content == b"\x00\x01binary" and "\r" not in disposition and "\n" not in disposition
    assert disposition.startswith('attachment; filename="we_ird') and 'filename*=UTF-8' in disposition
    assert hashlib.sha256(pdf.content).hexdigest() == hashlib.sha256(PDF).hexdigest()
    assert sam.get(f"/inquiries/{world['reply']}/attachments/{links[0][0].rsplit('/', 1)[1]}").status_code == 404
    assert sam.get(f"/inquiries/{world['first']}/attachments/999999").status_code == 404


def test_html_mail_is_sanitised_in_a_sandboxed_frame(sam: Browser, world: dict[str, int]) -> None:
    page = sam.get(f"/inquiries/{world['html']}").text
    assert re.search(r'<iframe src="/inquiries/\d+/html" sandbox="allow-popups allow-popups-to-escape-sandbox"',
                     page)
    assert "<script>document" not in page and "pixel.gif" not in page
    frame = sam.get(f"/inquiries/{world['html']}/html")
    assert frame.status_code == 200
    csp = frame.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "img-src data:" in csp and "sandbox" in csp and "script-src" not in csp
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    body = frame.text.lower()
    for bad in ("<script", "onload", "javascript:", "track.example", "evil.example", "<iframe", "<form", "<input",
                "<svg", "<object", "<meta http-equiv", "<base", "position:fixed", "position: fixed", "url(",
                "data:text/html", "display:none"):
        assert bad not in body, bad
    assert "dear office, about <b>dm/212 345</b>" in body
    assert 'href="https://office.example/help"' in body and 'rel="noopener noreferrer nofollow"' in body
    assert "1 remote image(s) blocked" in frame.text
    assert "<p>styled</p>" in frame.text  # a style that fetches anything goes altogether
    assert '<span style="color:blue">kept colour</span>' in frame.text


def test_a_huge_message_is_shown_cut_and_fast(sam: Browser, world: dict[str, int]) -> None:
    started = time.perf_counter()
    response = sam.get(f"/inquiries/{world['huge']}")
    assert response.status_code == 200
    assert time.perf_counter() - started < 10
    assert "The text is longer; only the beginning is shown." in response.text
    assert len(response.text) < 300_000


def test_no_such_inquiry_and_other_queues(sam: Browser, world: dict[str, int]) -> None:
    assert sam.get("/inquiries/987654").status_code == 404
    assert sam.get(f"/inquiries/{world['other']}").status_code == 403
    assert sam.get(f"/inquiries/{world['other']}/attachments/1").status_code == 403
    assert sam.get("/inquiries/1%20OR%201=1").status_code == 404
    assert sam.get(f"/inquiries/{world['first']}/html").status_code == 404  # plain-text mail has no HTML part
