"""Reference numbers, amounts and dates in a text, normalised, with their positions.

Kinds: ``registration`` (DM/212345), ``patent`` (EP3456789, US10123456B2,
WO2021123456), ``application`` (A1234567, HA12345678), ``reference`` (the
sender's own, "our ref. 2024-ACME-17"), ``amount`` ("CHF 1234.50") and ``date``
(ISO, from English, French and Spanish forms). Kinds are found in that order of
precedence: text taken by one kind is not read again by the next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date

from pipeline.mail.entity import Entity

__all__ = ["ENTITY_KINDS", "Entity", "extract_entities"]

ENTITY_KINDS = ("registration", "patent", "application", "amount", "date", "reference")

_SEP = r"[ \u00a0\u202f]"  # spaces inside numbers, including the no-break ones


Normaliser = Callable[[re.Match[str]], str | None]

# --- registrations, patents, applications -------------------------------------------------

_REGISTRATION = re.compile(rf"(?<![A-Za-z0-9])DM{_SEP}?/?{_SEP}?(\d{{3}})(?:{_SEP}|\.)?(\d{{3}})(?![\d/])", re.IGNORECASE)


def _registration(m: re.Match[str]) -> str:
    return f"DM/{m.group(1)}{m.group(2)}"


_KIND_CODE = r"(?:{sep}?(?P<kind>[ABCEUST][0-9]?)(?![A-Za-z0-9]))?".format(sep=_SEP)
_PATENT = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    rf"(?P<wo>WO){_SEP}?(?P<wo_year>(?:19|20)\d\d){_SEP}?/?{_SEP}?(?P<wo_num>\d{{3}}{_SEP}?\d{{3}})"
    rf"|(?P<epa>EP){_SEP}?(?P<epa_num>\d\d{_SEP}?\d{{3}}{_SEP}?\d{{3}})\.(?P<epa_check>\d)"
    rf"|(?P<uspub>US){_SEP}?(?P<us_year>(?:19|20)\d\d){_SEP}?/{_SEP}?(?P<us_num>\d{{7}})"
    rf"|(?P<ep>EP){_SEP}?(?P<ep_num>\d(?:{_SEP}|\.)?\d{{3}}(?:{_SEP}|\.)?\d{{3}})"
    rf"|(?P<us>US){_SEP}?(?P<us_patent>\d{{1,2}}(?:{_SEP}|[,.])?\d{{3}}(?:{_SEP}|[,.])?\d{{3}})"
    rf"|(?P<cc>DE|FR|GB|ES|CH|IT|AT|BE|NL|JP|CN|KR|CA|AU){_SEP}?(?P<num>\d(?:(?:{_SEP}|[.,])?\d){{5,11}})"
    r")(?![\d,.]\d)" + _KIND_CODE,
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _patent(m: re.Match[str]) -> str | None:
    kind = m.group("kind") or ""
    if m.group("wo"):
        return "WO" + m.group("wo_year") + _digits(m.group("wo_num")) + kind
    if m.group("epa"):  # a European application number, with its check digit
        return "EP" + _digits(m.group("epa_num")) + "." + m.group("epa_check")
    if m.group("uspub"):
        return f"US{m.group('us_year')}{m.group('us_num')}{kind}"
    if m.group("ep"):
        return "EP" + _digits(m.group("ep_num")) + kind
    if m.group("us"):
        return "US" + _digits(m.group("us_patent")) + kind
    return m.group("cc") + _digits(m.group("num")) + kind


_APPLICATION = re.compile(rf"(?<![A-Za-z0-9/])(?:(?P<ha>[Hh][Aa])[ \u00a0-]?(?P<ha_num>\d{{8}})|A(?P<a_num>\d{{4}}[ \u00a0]?\d{{3}}))(?![\d/])")


def _application(m: re.Match[str]) -> str:
    if m.group("ha"):
        return f"HA{m.group('ha_num')}"
    return "A" + _digits(m.group("a_num"))


# --- the sender's own reference ------------------------------------------------------------

_REFERENCE = re.compile(
    r"(?<![A-Za-z])(?:"
    r"(?:our|your|my|client(?:'s)?|n/|v/|notre|votre|nuestra|nuestro|su|vuestra)\s*"
    r"(?:ref(?:erence)?|r[ée]f(?:[ée]rence)?|referencia|file|dossier|expediente)"
    r"|ref(?:erence)?|r[ée]f[ée]rence|referencia"
    r")\s*\.?\s*(?:no\.?|n[°ºo]\.?|number|num\.?|nr\.?|n[úu]mero)?\s*[:#]?\s*"
    r"(?P<ref>(?=[A-Za-z0-9._/-]*\d)[A-Za-z0-9][A-Za-z0-9._/-]{2,40}[A-Za-z0-9])",
    re.IGNORECASE,
)


def _reference(m: re.Match[str]) -> str:
    return m.group("ref")


# --- dates -------------------------------------------------------------------------------

_MONTHS = {
    1: "january jan janvier janv enero ene januar gennaio janeiro",
    2: "february feb fevrier février fevr févr febrero februar febbraio fevereiro",
    3: "march mar mars marzo märz maerz março marco",
    4: "april apr avril avr abril aprile",
    5: "may mai mayo maggio maio",
    6: "june jun juin junio juni giugno junho",
    7: "july jul juillet juil julio juli luglio julho",
    8: "august aug aout août agosto ago",
    9: "september sept sep septembre septiembre setiembre settembre setembro",
    10: "october oct octobre octubre oktober ottobre outubro",
    11: "november nov novembre noviembre novembro",
    12: "december dec decembre décembre déc dic diciembre dezember dicembre dezembro",
}
_MONTH_OF = {name: number for number, names in _MONTHS.items() for name in names.split()}
_MONTH_NAME = "|".join(sorted((re.escape(n) for n in _MONTH_OF), key=len, reverse=True))
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DATE = re.compile(
    r"(?<![\w/.-])(?:"
    rf"(?P<iy>(?:19|20)\d\d)-(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}})(?![\d-])"
    rf"|(?P<nd>\d{{1,2}})(?P<s1>[/.-])(?P<nm>\d{{1,2}})(?P=s1)(?P<ny>(?:19|20)\d\d|\d\d)(?![\d/.-]\d)"
    rf"|(?P<td>\d{{1,2}})(?:st|nd|rd|th|er|re|º|°|o)?\.?{_SEP}*(?:de{_SEP}+)?(?P<tm>{_MONTH_NAME})\.?,?{_SEP}*(?:de{_SEP}+|del{_SEP}+)?{_YEAR}"
    rf"|(?P<am>{_MONTH_NAME})\.?{_SEP}+(?P<ad>\d{{1,2}})(?:st|nd|rd|th)?,?{_SEP}+(?P<ay>(?:19|20)\d\d)"
    r")(?![\w])",
    re.IGNORECASE,
)


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _date(m: re.Match[str]) -> str | None:
    if m.group("iy"):
        return _iso(int(m.group("iy")), int(m.group("im")), int(m.group("id")))
    if m.group("nd"):
        first, second = int(m.group("nd")), int(m.group("nm"))
        year = int(m.group("ny"))
        year += 2000 if year < 100 else 0
        if second > 12 >= first:  # 03/15/2025: month first, as written in the United States
            first, second = second, first
        return _iso(year, second, first)
    if m.group("td"):
        return _iso(int(m.group("year")), _MONTH_OF[m.group("tm").lower()], int(m.group("td")))
    return _iso(int(m.group("ay")), _MONTH_OF[m.group("am").lower()], int(m.group("ad")))


# --- amounts -----------------------------------------------------------------------------

_CURRENCY_CODES = "CHF|EUR|USD|GBP|JPY|CNY|SEK|NOK|DKK|CAD|AUD|MXN|BRL|KRW|SGD|INR|RUB"
_CURRENCY_WORDS = {
    "€": "EUR", "$": "USD", "us$": "USD", "£": "GBP", "¥": "JPY", "fr.": "CHF", "sfr.": "CHF", "sfr": "CHF",
    "euro": "EUR", "euros": "EUR", "swiss francs": "CHF", "swiss franc": "CHF", "francs suisses": "CHF",
    "franc suisse": "CHF", "francos suizos": "CHF", "franco suizo": "CHF", "francs": "CHF", "francos": "CHF",
    "dollars": "USD", "dólares": "USD", "dolares": "USD", "pounds": "GBP", "libras": "GBP",
}
_CURRENCY_WORD = "|".join(sorted((re.escape(w) for w in _CURRENCY_WORDS if w[0].isalpha()), key=len, reverse=True))
_CURRENCY_SYMBOL = r"€|US\$|\$|£|¥"
_NUMBER = rf"\d{{1,3}}(?:(?:[,.'’]|{_SEP})\d{{3}})+(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d{{1,2}})?"
_AMOUNT = re.compile(
    r"(?<![\w.,])(?:"
    rf"(?P<pc>{_CURRENCY_CODES}|{_CURRENCY_SYMBOL}|(?:S?Fr\.))\s?(?P<pn>{_NUMBER})(?:[.,]-)?"
    rf"|(?P<sn>{_NUMBER})(?:[.,]-)?\s?(?P<sc>{_CURRENCY_CODES}|{_CURRENCY_SYMBOL}|{_CURRENCY_WORD})"
    r")(?![\w])",
    re.IGNORECASE,
)


def _number(text: str) -> str | None:
    text = re.sub(rf"{_SEP}|['’]", "", text)
    last_sep = max(text.rfind(","), text.rfind("."))
    if last_sep == -1:
        return text
    decimals = text[last_sep + 1 :]
    whole = re.sub(r"[.,]", "", text[:last_sep])
    if len(decimals) == 3 and whole:  # 1,234 or 1.234: a thousands separator
        return whole + decimals
    return f"{whole or '0'}.{decimals}"


def _amount(m: re.Match[str]) -> str | None:
    currency = (m.group("pc") or m.group("sc") or "").strip()
    number = _number(m.group("pn") or m.group("sn") or "")
    if number is None:
        return None
    code = currency.upper() if currency.upper() in _CURRENCY_CODES.split("|") else _CURRENCY_WORDS.get(currency.lower())
    if code is None:
        return None
    return f"{code} {number}"


_EXTRACTORS: tuple[tuple[str, re.Pattern[str], Normaliser], ...] = (
    ("registration", _REGISTRATION, _registration),
    ("patent", _PATENT, _patent),
    ("application", _APPLICATION, _application),
    ("date", _DATE, _date),
    ("reference", _REFERENCE, _reference),
    ("amount", _AMOUNT, _amount),
)


def _spans(kind: str, pattern: re.Pattern[str], normalise: Normaliser, text: str) -> Iterator[tuple[int, int, str]]:
    for match in pattern.finditer(text):
        value = normalise(match)
        if value is None:
            continue
        if kind == "reference":
            yield match.start("ref"), match.end("ref"), value
        else:
            yield match.start(), match.end(), value


def _as_found(m: re.Match[str]) -> str:
    value = m.group("value") if "value" in m.re.groupindex else m.group(0)
    return re.sub(r"\s+", " ", value).strip().upper()


def extract_entities(text: str, source: str = "body", max_chars: int = 100_000,
                     extra: Sequence[tuple[str, re.Pattern[str]]] = ()) -> tuple[Entity, ...]:
    """Every entity in ``text`` (its first ``max_chars``), in order of position.

    ``extra`` adds a desk's own kinds (client numbers, instruction numbers), read after the built-in ones;
    a pattern's ``value`` group, else its whole match, upper-cased, is the value.
    """
    masked = text[:max_chars]
    found: list[Entity] = []
    extractors = (*_EXTRACTORS, *((kind, pattern, _as_found) for kind, pattern in extra))
    for kind, pattern, normalise in extractors:
        spans = list(_spans(kind, pattern, normalise, masked))
        if not spans:
            continue
        pieces, last = [], 0
        for start, end, value in spans:
            found.append(Entity(kind, value, start, end, source))
            pieces += [masked[last:start], "#" * (end - start)]
            last = end
        masked = "".join(pieces) + masked[last:]
    return tuple(sorted(found, key=lambda e: (e.start, e.end)))
