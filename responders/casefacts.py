"""Facts from the register about one case, looked up by its number: the seam between replies and the register.

A status question ("has my payment been credited?", "in which Bulletin was it
published?") is answered with the looked-up fact, not with an explainer. The
replies only see ``CaseFactsProvider``: a real office plugs its register in
behind it. ``RegisterFile`` is the demo one, over a small TOML extract
(``data/register.toml``) read once; lookups are then pure. ``NO_REGISTER``
knows nothing: templates then leave marked blanks for staff to fill.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import ConfigError

CASE_KINDS = ("registration", "application", "patent")
# What a case can be, as the register records it (templates word each one in their language).
STATUSES = (
    "under_examination",      # an application received, formal examination in progress
    "irregularity_notified",  # an application with an open irregularity notice
    "registered",             # recorded in the register, not yet published (or publication deferred)
    "published",              # recorded and published in the Bulletin
    "withdrawn",              # an application withdrawn or considered abandoned
    "in_force",               # a registration or patent in force
    "grace_period",           # past its expiry date, still renewable with the surcharge
    "lapsed",                 # not renewed: no longer in force
)
_DATES = ("filing_date", "registration_date", "expiry_date", "renewal_due", "renewed_on", "renewed_until",
          "paid_on", "credited_on", "publication_date", "deferred_until", "notice_date", "remedy_by")
_RECENT_DAYS = 366
_AMOUNT = re.compile(r"^[A-Z]{3} \d+(?:\.\d{2})?$")


def number_key(number: str) -> str:
    """A number as the register files it: upper case, letters and digits only (``DM/212 345`` -> ``DM212345``)."""
    return re.sub(r"[^0-9A-Z]", "", number.upper())


@dataclass(frozen=True)
class CaseFacts:
    """What the register says about one registration, application or patent (``None``: not recorded)."""

    number: str
    kind: str
    status: str
    holder: str = ""
    registration_number: str = ""            # an application's number in the register once registered
    filing_date: date | None = None
    registration_date: date | None = None
    expiry_date: date | None = None
    renewal_due: date | None = None          # the date by which the next renewal must be paid
    renewed_on: date | None = None           # the last renewal recorded
    renewed_until: date | None = None
    fees_due: str | None = None              # "CHF 934.50"
    fees_paid: str | None = None
    paid_on: date | None = None              # the day the payment was made, as the payer told us
    credited_on: date | None = None          # the day it was credited; None: not credited (yet)
    publication_date: date | None = None
    bulletin: str | None = None              # "2026/44"
    deferred_until: date | None = None       # publication deferred until
    notice_date: date | None = None          # the open irregularity notice
    remedy_by: date | None = None            # its time limit
    as_of: date | None = None                # the day the register extract was made

    @property
    def payment_credited(self) -> bool:
        """Whether the register shows the payment credited."""
        return self.credited_on is not None

    @property
    def renewal_recent(self) -> bool:
        """Whether the last renewal recorded is the current one (recorded in the year before the extract)."""
        if self.renewed_on is None:
            return False
        return self.as_of is None or 0 <= (self.as_of - self.renewed_on).days <= _RECENT_DAYS

    @property
    def payment_balance(self) -> str:
        """``over``, ``short`` or ``even``: the credited payment against the fees due (empty when unknown)."""
        if not (self.fees_due and self.fees_paid and self.credited_on):
            return ""
        due_currency, _, due = self.fees_due.partition(" ")
        paid_currency, _, paid = self.fees_paid.partition(" ")
        if due_currency != paid_currency:
            return ""
        difference = Decimal(paid) - Decimal(due)
        return "over" if difference > 0 else "short" if difference < 0 else "even"

    @property
    def payment_difference(self) -> str:
        """The amount paid over or short, written like the amounts (``CHF 300.00``), or empty."""
        if not self.payment_balance or self.payment_balance == "even":
            return ""
        currency = (self.fees_due or "").partition(" ")[0]
        due = Decimal((self.fees_due or "").partition(" ")[2])
        paid = Decimal((self.fees_paid or "").partition(" ")[2])
        return f"{currency} {abs(paid - due):.2f}"

    def as_variables(self) -> dict[str, Any]:
        """The facts as template variables: strings, ISO dates, ``""`` for what is not recorded."""
        values: dict[str, Any] = {}
        for name, value in asdict(self).items():
            values[name] = value.isoformat() if isinstance(value, date) else (value or "")
        values["found"] = True
        values["payment_credited"] = self.payment_credited
        values["renewal_recent"] = self.renewal_recent
        values["payment_balance"] = self.payment_balance
        values["payment_difference"] = self.payment_difference
        return values


def unknown_variables(number: str = "") -> dict[str, Any]:
    """The variables of a case the register does not know: every fact empty, ``found`` false."""
    values: dict[str, Any] = {f.name: "" for f in fields(CaseFacts)}
    values.update(number=number, found=False, payment_credited=False, renewal_recent=False, payment_balance="",
                  payment_difference="")
    return values


class CaseFactsProvider(Protocol):
    """Looks a case up in the register by its registration, application or patent number."""

    def lookup(self, number: str) -> CaseFacts | None:
        """The case with this number (written any usual way), or None when the register does not know it."""
        ...


class _NoRegister:
    """The provider of a desk without a register: it knows no case."""

    def lookup(self, number: str) -> CaseFacts | None:
        """Always None."""
        return None


NO_REGISTER: CaseFactsProvider = _NoRegister()


@dataclass(frozen=True)
class RegisterFile:
    """The demo register: records read from a TOML file, looked up by number."""

    records: Mapping[str, CaseFacts]

    def lookup(self, number: str) -> CaseFacts | None:
        """The record with this number, however it is spaced or punctuated."""
        return self.records.get(number_key(number)) if number else None


def lookup_all(provider: CaseFactsProvider, numbers: Iterable[str]) -> list[CaseFacts]:
    """The register's record of each number it knows, in the order given, each once."""
    found: dict[str, CaseFacts] = {}
    for number in numbers:
        facts = provider.lookup(number)
        if facts is not None:
            found.setdefault(number_key(facts.number), facts)
    return list(found.values())


def _record(raw: Mapping[str, Any], as_of: date | None, where: str) -> CaseFacts:
    known = {f.name for f in fields(CaseFacts)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(unknown)}")
    values = dict(raw)
    for name in _DATES:
        value = values.get(name)
        if isinstance(value, str):
            values[name] = date.fromisoformat(value)
        elif value is not None and not isinstance(value, date):
            raise ValueError(f"{where}: {name} must be a date")
    for name in ("fees_due", "fees_paid"):
        if values.get(name) is not None and not _AMOUNT.match(str(values[name])):
            raise ValueError(f"{where}: {name} must be written like 'CHF 934.50'")
    if values.get("kind") not in CASE_KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(CASE_KINDS)}")
    if values.get("status") not in STATUSES:
        raise ValueError(f"{where}: status must be one of {', '.join(STATUSES)}")
    values.setdefault("as_of", as_of)
    if values.get("renewal_due") is None and values.get("kind") != "application":
        values["renewal_due"] = values.get("expiry_date")
    return CaseFacts(**values)


def parse_register(text: str, path: Path) -> RegisterFile:
    """A register extract from its TOML text; ``ConfigError`` naming the first bad record."""
    try:
        raw = tomllib.loads(text)
        as_of = raw.get("as_of")
        as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        records: dict[str, CaseFacts] = {}
        for index, item in enumerate(raw.get("record", [])):
            facts = _record(item, as_of, f"record {index + 1}")
            key = number_key(facts.number)
            if key in records:
                raise ValueError(f"record {index + 1}: number {facts.number} is listed twice")
            records[key] = facts
    except (tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
        raise ConfigError([(str(path), f"register extract: {exc}")]) from exc
    return RegisterFile(records)


def load_register(path: Path) -> RegisterFile:
    """Read a register extract file; ``ConfigError`` when it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read the register extract: {exc}")]) from exc
    return parse_register(text, path)
