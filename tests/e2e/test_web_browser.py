"""End to end in a real headless Chromium: mail arrives in a real Dovecot, `triage run --once` stores it,
`triage retriage --pending` triages it, `triage serve` runs as a process on loopback; staff log in, open a
queue, approve a reply, and the reply is in the mailbox's Drafts folder. HTML mail runs nothing, fetches nothing.

Set TRIAGE_SCREENSHOTS=docs to refresh the screenshots kept in docs/.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.web import CHROMIUM, CHROMIUM_ARGS, PASSWORD, ROOT, Server, clean_env, serve_process
from tests.support.dovecot import Dovecot
from tests.support.mail import make_message

pytestmark = [pytest.mark.browser, pytest.mark.dovecot, pytest.mark.slow]
playwright_api = pytest.importorskip("playwright.sync_api")
TRIAGE = str(Path(sys.executable).with_name("triage"))
RENEWAL = ("Dear Sir or Madam,\n\nOur client's international registration DM/212 345 expires on 15 March 2027. "
           "Could you confirm the renewal fee and whether we can still renew for only some of the designated "
           "contracting parties?\n\nKind regards,\nAnna Schmidt\n")
EVIL = """<html><head><script>window.parent.document.title='pwned'; alert('script ran')</script></head>
<body onload="alert('onload ran')"><p>Bonjour, je souhaite d\u00e9poser une demande internationale pour trois
dessins. Quelles reproductions faut-il joindre et quelles taxes payer ?</p>
<img src="http://127.0.0.1:{port}/pixel.gif?who=desk" width="1" height="1" alt="">
<div style="background:url(http://127.0.0.1:{port}/bg.gif);position:fixed;inset:0">cover</div>
<a href="javascript:alert('link ran')">cliquez ici</a></body></html>"""


class Tracker(http.server.BaseHTTPRequestHandler):
    """A 'remote' server for tracking pixels: it counts every request it gets."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        Tracker.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tracker() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def desk(dovecot: Dovecot, triage_model_path: Path, tracker: int,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    """Mail in Dovecot, stored and triaged by the real commands, and `triage serve` running over it."""
    home = tmp_path_factory.mktemp("desk")
    user = dovecot.fresh_user()
    dovecot.append(user, [
        make_message(RENEWAL, subject="Renewal of DM/212 345", sender="Anna Schmidt <a.schmidt@schmidt-ip.example.de>",
                     message_id="<renewal-e2e@schmidt-ip.example.de>"),
        make_message("", html=EVIL.replace("{port}", str(tracker)), subject="Demande internationale",
                     sender="Sophie Laurent <sophie@laurent-design.example.be>", message_id="<html-e2e@example.be>"),
    ])
    prefix = "TRIAGE_MAILBOXES__DESK__"
    env = clean_env(**{
        "TRIAGE_DATABASE_URL": f"sqlite:///{home / 'triage.db'}", "TRIAGE_TRIAGE__MODEL_PATH": str(triage_model_path),
        "TRIAGE_WEB__SECRET_KEY_FILE": str(home / "web-secret"),
        f"{prefix}HOST": dovecot.host, f"{prefix}PORT": str(dovecot.port), f"{prefix}TLS": "none",
        f"{prefix}USER": user, f"{prefix}PASSWORD": dovecot.users[user],
        f"{prefix}DELIVERY__MODE": "drafts", f"{prefix}DELIVERY__FROM_ADDRESS": "helpdesk@registry.example.org",
    })

    def triage(*args: str, stdin: str = "") -> str:
        done = subprocess.run([TRIAGE, *args], env=env, cwd=home, input=stdin, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert '"stored": 2' in triage("run", "--once", "--json")
    triage("retriage", "--pending")
    triage("replies", "run")
    triage("user", "add", "sam", "--name", "Sam Staff", "--queue", "customer_service", "--queue", "operations",
           "--queue", "it", "--queue", "finance", "--queue", "legal", "--queue", "translation", "--password-stdin",
           stdin=PASSWORD + "\n")
    triage("user", "add", "ada", "--role", "admin", "--name", "Ada Admin", "--password-stdin", stdin=PASSWORD + "\n")
    with serve_process(env, home) as server:
        yield server, user, home


def shots_dir(home: Path) -> Path:
    return ROOT / "docs" if os.environ.get("TRIAGE_SCREENSHOTS") == "docs" else home


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def drafts_of(dovecot: Dovecot, user: str) -> list[bytes]:
    with dovecot.client(user) as client:
        if not client.folder_exists("Drafts"):
            return []
        client.select_folder("Drafts", readonly=True)
        found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]", "FLAGS"])
        return [data[b"BODY[]"] for data in found.values() if b"\\Draft" in data[b"FLAGS"]]


def test_log_in_open_a_queue_approve_a_reply_it_is_in_drafts(desk: tuple[Server, str, Path], browser: object,
                                                             dovecot: Dovecot) -> None:
    server, user, home = desk
    shots = shots_dir(home)
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(server.url + "/queues/customer_service")
    assert "/login" in page.url
    page.screenshot(path=str(shots / "login.png"))
    page.fill("#username", "sam")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")  # keyboard only
    assert page.url.endswith("/queues/customer_service")
    page.goto(server.url + "/queues")
    page.screenshot(path=str(shots / "queues.png"), full_page=True)
    page.click("text=customer_service")
    page.wait_for_selector("table.cases")
    page.screenshot(path=str(shots / "queue.png"), full_page=True)
    with page.expect_navigation():
        page.click("text=Renewal of DM/212 345")
    if page.locator("text=Suggest a reply from the templates").count():
        with page.expect_navigation():
            page.click("text=Suggest a reply from the templates")
    body = page.locator("#reply-body")
    assert "DM/212345" in body.input_value()
    assert page.locator("mark.ent-registration").first.inner_text() == "DM/212 345"
    body.fill(body.input_value().replace("Thank you for your message", "Thank you for your message (checked by Sam)"))
    page.screenshot(path=str(shots / "inquiry.png"), full_page=True)
    with page.expect_navigation():
        page.click("text=Approve and send")
    assert "reply approved" in page.inner_text(".flash")
    drafts: list[bytes] = []
    deadline = time.monotonic() + 30
    while not drafts and time.monotonic() < deadline:
        drafts = drafts_of(dovecot, user)
        time.sleep(0.3)
    assert len(drafts) == 1
    assert b"checked by Sam" in drafts[0]
    assert b"In-Reply-To: <renewal-e2e@schmidt-ip.example.de>" in drafts[0]
    assert b"To: Anna Schmidt <a.schmidt@schmidt-ip.example.de>" in drafts[0]
    page.reload()
    assert page.locator("text=sent").count() > 0
    mobile = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    mobile.context.add_cookies(page.context.cookies())
    mobile.goto(server.url + "/queues/customer_service?status=all")
    mobile.screenshot(path=str(shots / "queue-mobile.png"), full_page=True)
    mobile.close()
    page.close()


def test_html_mail_runs_no_script_and_fetches_nothing(desk: tuple[Server, str, Path], browser: object,
                                                      tracker: int) -> None:
    server, _, home = desk
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(server.url + "/login")
    page.fill("#username", "sam")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(server.url + "/queues/translation")  # whatever queue triage chose, search them all
    link = None
    for queue in ("customer_service", "operations", "translation", "legal", "finance", "it"):
        page.goto(f"{server.url}/queues/{queue}?status=all")
        if page.locator("text=Demande internationale").count():
            link = page.locator("text=Demande internationale")
            break
    assert link is not None, "the HTML inquiry is in no queue"
    with page.expect_navigation():
        link.click()
    title = page.title()
    page.click("text=The message as sent")
    frame_element = page.wait_for_selector("iframe")
    frame = frame_element.content_frame()
    frame.wait_for_load_state()
    assert "reproductions" in frame.inner_text("body")
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.title() == title
    assert frame.locator("script").count() == 0
    assert Tracker.hits == []
    page.set_viewport_size({"width": 1280, "height": 1100})
    page.screenshot(path=str(shots_dir(home) / "inquiry-html.png"))  # not full_page: it would leave the frame blank
    page.close()


def test_admin_pages(desk: tuple[Server, str, Path], browser: object) -> None:
    server, _, home = desk
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(server.url + "/login")
    page.fill("#username", "ada")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    for name, path, expect in [("admin-users", "/admin/users", "Add a user"),
                               ("admin-queues", "/admin/queues", "response-time targets"),
                               ("admin-templates", "/admin/templates", "fees--refund.j2"),
                               ("admin-routing", "/admin/routing", "other-language")]:
        page.goto(server.url + path)
        assert expect in page.content(), path
        page.screenshot(path=str(shots_dir(home) / f"{name}.png"), full_page=True)
    page.goto(server.url + "/admin/templates/en/renewal.j2")
    with page.expect_navigation():
        page.click("text=Check and preview")
    assert "The checks pass." in page.content()
    page.screenshot(path=str(shots_dir(home) / "admin-template-preview.png"), full_page=True)
    page.close()
