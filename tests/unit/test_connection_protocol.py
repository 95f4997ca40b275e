"""The real IMAP connection and its in-memory twin both match ``MailFolderConnection``, so they cannot drift."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.config import MailboxSettings
from pipeline.sources import base, imap, memory_imap
from pipeline.sources.base import ConnectionFactory, MailFolderConnection
from pipeline.sources.imap import ImapConnection
from pipeline.sources.memory_imap import MemoryImapConnection, MemoryImapServer

IMPLEMENTATIONS = [ImapConnection, MemoryImapConnection]


def protocol_methods() -> dict[str, Any]:
    return {name: member for name, member in vars(MailFolderConnection).items()
            if callable(member) and not name.startswith("_")}


def protocol_attributes() -> dict[str, Any]:
    hints = typing.get_type_hints(MailFolderConnection, vars(base))
    return {name: hint for name, hint in hints.items() if name not in protocol_methods()}


def described(function: Any, namespace: dict[str, Any]) -> list[tuple[str, Any, Any, Any]]:
    """Each parameter's name, kind, default and resolved type, and the resolved return type."""
    hints = typing.get_type_hints(function, namespace)
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default, hints.get(p.name)) for p in signature.parameters.values()] + [
        ("return", None, None, hints.get("return"))]


def test_the_protocol_covers_what_the_sync_uses() -> None:
    assert set(protocol_methods()) == {"has_capability", "noop", "select", "search_uids", "sizes", "fetch_bodies",
                                       "mark_seen", "move", "idle_start", "idle_wait", "idle_stop", "close"}
    assert protocol_attributes() == {"mailbox": str, "broken": bool, "auth_warning": str | None, "last_used": float}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=lambda cls: cls.__name__)
def test_each_method_has_the_protocol_signature(implementation: type) -> None:
    module = vars(imap if implementation is ImapConnection else memory_imap)
    for name, method in protocol_methods().items():
        assert hasattr(implementation, name), f"{implementation.__name__} lacks {name}"
        assert described(getattr(implementation, name), module) == described(method, vars(base)), name


def test_the_real_connection_has_no_public_method_outside_the_protocol() -> None:
    public = {name for name, member in vars(ImapConnection).items()
              if not name.startswith("_") and (callable(member) or isinstance(member, classmethod))}
    # ``open`` is the connection factory (``ConnectionFactory``), not a method of an open connection.
    assert public - set(protocol_methods()) == {"open"}, "add the new method to MailFolderConnection and the twin"


def test_the_attributes_exist_on_open_connections() -> None:
    # ImapConnection sets its attributes in __init__; check them on an instance made without a server.
    real = ImapConnection(client=None, mailbox="desk", settings=None)  # type: ignore[arg-type]
    server = MemoryImapServer(user="u", password="p")
    twin = server.connect("desk", MailboxSettings(host="imap.example.org", user="u", password=SecretStr("p")))
    try:
        for connection in (real, twin):
            assert isinstance(connection, MailFolderConnection)
            for name, hint in protocol_attributes().items():
                value = getattr(connection, name)
                assert isinstance(value, typing.get_args(hint) or hint), (type(connection).__name__, name)
    finally:
        twin.close()


def test_both_factories_have_the_factory_signature() -> None:
    factories: list[ConnectionFactory] = [ImapConnection.open, MemoryImapServer().connect]
    for factory in factories:
        parameters = list(inspect.signature(factory).parameters.values())
        assert [p.name for p in parameters] == ["mailbox", "settings"]
    assert typing.get_type_hints(MemoryImapServer.connect, vars(memory_imap))["settings"] is \
        typing.get_type_hints(ImapConnection.open, vars(imap))["settings"]
