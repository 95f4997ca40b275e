"""Folder leases on a real database: one holder at a time, takeover after expiry, only the database's clock counts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.config import DatabaseSettings, Settings
from pipeline.leases import LeaseKeeper
from pipeline.runtime import Runtime, open_runtime
from pipeline.store import leases


def _runtime(url: str) -> Runtime:
    return open_runtime(Settings(database=DatabaseSettings(url=url)))


@pytest.fixture
def two(db_url: str) -> Iterator[tuple[Runtime, Runtime]]:
    """Two processes' worth of database access: separate engines on one database."""
    first = _runtime(db_url)
    second = _runtime(db_url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_two_daemons_never_hold_the_same_folder_at_once(two: tuple[Runtime, Runtime]) -> None:
    inside: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    turns = {"a": 0, "b": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + 2.0

    def contend(name: str, runtime: Runtime) -> None:
        while time.monotonic() < deadline:
            claim = leases.acquire(runtime.session_factory, "desk", "INBOX", name, 30)
            if not claim.granted:
                assert claim.holder in turns and claim.holder != name and 0 < claim.seconds_left <= 30.5
                time.sleep(0.001)
                continue
            with lock:
                inside.append(name)
                if len(inside) > 1:
                    overlaps.append(tuple(inside))
            time.sleep(0.005)  # "syncing"
            with lock:
                inside.remove(name)
                turns[name] += 1
            leases.release(runtime.session_factory, "desk", "INBOX", name)
            time.sleep(0.002)  # between two syncs

    threads = [threading.Thread(target=contend, args=(name, runtime)) for name, runtime in zip("ab", two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert overlaps == []
    assert turns["a"] > 0 and turns["b"] > 0, turns


def test_a_dead_holders_lease_is_taken_over_once_it_expires(two: tuple[Runtime, Runtime]) -> None:
    first, second = two
    assert leases.acquire(first.session_factory, "desk", "INBOX", "a", 1.0).granted
    assert leases.acquire(first.session_factory, "desk", "INBOX", "a", 1.0).granted  # the holder may extend it
    refused = leases.acquire(second.session_factory, "desk", "INBOX", "b", 1.0)
    assert not refused.granted and refused.holder == "a" and 0 < refused.seconds_left <= 1.5
    assert leases.acquire(second.session_factory, "desk", "Cases", "b", 1.0).granted  # other folders are free
    time.sleep(refused.seconds_left + 0.1)  # "a" died: nothing renews its lease
    assert leases.acquire(second.session_factory, "desk", "INBOX", "b", 5.0).granted
    assert leases.renew(first.session_factory, "a", 5.0) == set()  # "a" wakes up: it has lost its lease
    assert leases.renew(second.session_factory, "b", 5.0) == {("desk", "INBOX"), ("desk", "Cases")}
    leases.release(first.session_factory, "desk", "INBOX", "a")  # releasing what is not one's own does nothing
    assert [(r.folder, r.holder) for r in leases.live_leases(first.session_factory)] == [("Cases", "b"),
                                                                                        ("INBOX", "b")]


@pytest.mark.postgres
@pytest.mark.parametrize("skew", [timedelta(hours=1), timedelta(hours=-1), timedelta(days=3)])
def test_clock_skew_between_daemons_does_not_matter(pg_url: str, skew: timedelta,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _runtime(pg_url), _runtime(pg_url)
    try:
        assert leases.acquire(first.session_factory, "desk", "INBOX", "a", 1.5).granted
        # The second daemon's clock is off: were its own clock used, the lease would look expired (or eternal).
        skewed = datetime.now(timezone.utc) + skew
        monkeypatch.setattr(leases, "utcnow", lambda: skewed)
        refused = leases.acquire(second.session_factory, "desk", "INBOX", "b", 1.5)
        assert not refused.granted and 0 < refused.seconds_left <= 2.0
        assert leases.renew(first.session_factory, "a", 1.5) == {("desk", "INBOX")}
        time.sleep(1.6)
        assert leases.acquire(second.session_factory, "desk", "INBOX", "b", 1.5).granted
    finally:
        first.close()
        second.close()


def test_keeper_renews_while_syncing_and_notices_a_lost_lease(two: tuple[Runtime, Runtime]) -> None:
    first, second = two
    keeper = LeaseKeeper(first.session_factory, seconds=2.0)
    keeper.start()
    try:
        claim, held = keeper.try_take("desk", "INBOX")
        assert claim.granted and held is not None
        time.sleep(2.5)  # longer than the lease: only renewal keeps it
        assert not leases.acquire(second.session_factory, "desk", "INBOX", "other", 2.0).granted
        assert not held.lost.is_set()
        assert keeper.holder in leases.live_daemons(second.session_factory)
        # The keeper stalls past its lease and another daemon takes the folder over meanwhile.
        with second.session_factory.begin() as session:
            from pipeline.store.models import FolderLease

            row = session.get(FolderLease, ("desk", "INBOX"))
            assert row is not None
            row.holder = "other"
        keeper.renew_now()
        assert held.lost.is_set()
        keeper.give_back(held)  # gives back nothing that is not its own
        assert leases.acquire(second.session_factory, "desk", "INBOX", "other", 2.0).granted
    finally:
        keeper.close()
    assert keeper.holder not in leases.live_daemons(second.session_factory)


def test_a_restarted_daemon_takes_back_at_once_what_a_dead_one_of_its_host_held(
        two: tuple[Runtime, Runtime]) -> None:
    first, second = two
    keeper = LeaseKeeper(first.session_factory, seconds=30.0)
    host = keeper.holder.split(":")[0]
    dead = f"{host}:999999999:dead"  # no such process
    elsewhere = "other-host:1:alive"
    assert leases.acquire(second.session_factory, "desk", "INBOX", dead, 300).granted
    assert leases.acquire(second.session_factory, "desk", "Cases", elsewhere, 300).granted
    keeper.start()
    try:
        assert keeper.try_take("desk", "INBOX")[0].granted  # no wait for the dead daemon's lease to expire
        assert not keeper.try_take("desk", "Cases")[0].granted  # another host's daemon may be alive
    finally:
        keeper.close()
