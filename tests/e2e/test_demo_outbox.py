"""The demo's main action, as a newcomer does it: the samples are ingested and triaged, replies suggested, and
"Approve and send" in the review app writes the reply once to the outbox Maildir (no mail server needed)."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.e2e.web import PASSWORD, ROOT, Browser, clean_env, serve_process

pytestmark = [pytest.mark.slow]
TRIAGE = str(Path(sys.executable).with_name("triage"))


def test_approve_in_the_demo_lands_in_the_outbox_once(tmp_path: Path, triage_model_path: Path) -> None:
    outbox = tmp_path / "var" / "outbox"
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'triage.db'}",
                    TRIAGE_TRIAGE__MODEL_PATH=str(triage_model_path),
                    TRIAGE_WEB__SECRET_KEY_FILE=str(tmp_path / "web-secret"),
                    TRIAGE_REPLIES__OUTBOX=str(outbox))

    def triage(*args: str, stdin: str = "") -> str:
        done = subprocess.run([TRIAGE, *args], env=env, cwd=ROOT, input=stdin, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    triage("ingest", str(ROOT / "data" / "samples"))
    triage("retriage", "--pending")
    triage("replies", "run")
    triage("user", "add", "demo", "--role", "admin", "--name", "Demo Admin", "--password-stdin", stdin=PASSWORD + "\n")
    listed = [json.loads(line) for line in triage("inquiries", "list", "--state", "suggested", "--json").splitlines()
              if line.startswith("{")]
    assert listed, "the demo has no suggested reply to approve"
    inquiry_id = listed[0]["id"]
    with serve_process(env, tmp_path) as server:
        browser = Browser(server.url)
        try:
            assert browser.login("demo").status_code == 303
            page = browser.get(f"/inquiries/{inquiry_id}").text
            subject = re.search(r'id="reply-subject" name="subject" value="([^"]*)"', page)
            body = re.search(r'<textarea[^>]*id="reply-body"[^>]*>(.*?)</textarea>', page, re.S)
            version = re.search(r'name="version" value="(\d+)"', page)
            suggestion_version = re.search(r'name="suggestion_version" value="(\d+)"', page)
            assert subject and body and version and suggestion_version
            approved = browser.post(f"/inquiries/{inquiry_id}/reply", {
                "version": version.group(1), "suggestion_version": suggestion_version.group(1), "do": "approve",
                "subject": html.unescape(subject.group(1)), "body": html.unescape(body.group(1)),
            }, token_from=f"/inquiries/{inquiry_id}")
            assert approved.status_code == 303, approved.text[-2000:]
            deadline = time.monotonic() + 30
            while not list((outbox / "new").glob("*")) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            browser.close()
    triage("replies", "run")  # another round finds it delivered already
    files = list((outbox / "new").iterdir())
    assert len(files) == 1
    mail = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert f"[T-{inquiry_id}]" in str(mail["Subject"]) and mail["To"] and mail["Message-ID"]
    assert list((outbox / "tmp").iterdir()) == []
