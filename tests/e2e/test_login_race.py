"""Parallel password guesses against a real `triage serve` process: no more are checked than the throttle allows,
and the right password, sent once the lock-out is reached, is refused."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.web import PASSWORD, clean_env, serve_process

pytestmark = [pytest.mark.slow]
TRIAGE = str(Path(sys.executable).with_name("triage"))
GUESSES = 50
LIMIT = 5


def test_parallel_guesses_check_at_most_the_limit(tmp_path: Path) -> None:
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'triage.db'}",
                    TRIAGE_WEB__SECRET_KEY_FILE=str(tmp_path / "web-secret"),
                    TRIAGE_WEB__LOGIN_MAX_FAILURES=str(LIMIT))
    subprocess.run([TRIAGE, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([TRIAGE, "user", "add", "sam", "--queue", "customer_service", "--password-stdin"], env=env,
                   cwd=tmp_path, input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    with serve_process(env, tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=60) as first:
            page = first.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
            assert token is not None
            cookies = dict(first.cookies)

        def attempt(password: str) -> int:
            with httpx.Client(base_url=server.url, timeout=60, cookies=cookies,
                              headers={"origin": server.url}) as client:
                return client.post("/login", data={"username": "sam", "password": password, "next": "/queues",
                                                   "csrf_token": token.group(1)}).status_code

        with ThreadPoolExecutor(max_workers=GUESSES) as pool:
            wrong = [pool.submit(attempt, f"guess-{n}") for n in range(GUESSES - 1)]
            answered = 0
            while answered < LIMIT:  # the right password goes in once the lock-out is reached, guesses still running
                answered = sum(future.done() for future in wrong)
                time.sleep(0.005)
            right = pool.submit(attempt, PASSWORD)
            statuses = [future.result() for future in wrong]
        checked = statuses.count(401)
        assert checked <= LIMIT, f"{checked} passwords were checked, the limit is {LIMIT}"
        assert statuses.count(429) == GUESSES - 1 - checked
        assert right.result() == 429
