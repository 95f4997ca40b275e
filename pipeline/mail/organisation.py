"""The organisation a sender writes for, read from the From address alone (pure, no I/O).

An organisation is its registrable domain: ``anna@mail.example.co.uk`` writes for
``example.co.uk``. Subdomains are dropped; the common two-level public suffixes
(``co.uk``, ``com.au``, ``co.jp``, ``com.br``, ``com.mx``, ``gob.es``, ``gouv.fr`` ...)
keep one more label. Free-mail providers (``gmail.com``, ``hotmail.*``, ``yahoo.*``,
``gmx.*``, ``web.de``, ``orange.fr``, ``proton.me`` ...) are people writing for
themselves: no organisation.

The key is stable whatever the spelling of the address: lower-case ASCII, with an
international domain in its IDNA (``xn--``) form, so ``x@Bücher.de`` and
``x@xn--bcher-kva.de`` write for the same organisation. The display name is the
key's Unicode form. Anything that is not a usable domain name (no ``@``, an IP
literal, a single label, a bad label) gives no organisation, never an error.

The suffix table is a short hand-picked excerpt of the Public Suffix List, not the
list itself: an unlisted two-level suffix counts as a name under its top-level
domain (``mail.example.xx.zz`` writes for ``xx.zz``), which groups too much but
never splits one organisation in two.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_KEY_CHARS = 253

_ASCII_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # ideographic and full-width stops

# Second-level labels that are public suffixes under a country's top-level domain (from the Public Suffix List).
_SECOND_LEVEL: dict[str, frozenset[str]] = {tld: frozenset(labels.split()) for tld, labels in {
    "uk": "co org me ltd plc net sch ac gov nhs police mod",
    "au": "com net org edu gov asn id",
    "nz": "co org net govt ac school gen geek kiwi maori iwi health",
    "jp": "co ne or go ac ad ed gr lg",
    "kr": "co or go ac ne re",
    "cn": "com net org gov edu ac",
    "hk": "com org gov edu net idv",
    "tw": "com org gov edu net idv",
    "sg": "com org gov edu net per",
    "my": "com org gov edu net",
    "th": "co or go ac in net",
    "id": "co or go ac web net",
    "in": "co net org gov ac edu res firm gen ind nic",
    "pk": "com org gov edu net",
    "ph": "com org gov edu net",
    "vn": "com org gov edu net",
    "il": "co org gov ac net muni",
    "tr": "com org gov edu net gen av bel k12 biz info web tv",
    "sa": "com org gov edu net",
    "ae": "co gov ac net org",
    "eg": "com org gov edu net",
    "ma": "co gov ac net org",
    "tn": "com gov org",
    "za": "co org gov ac net web nom",
    "ng": "com org gov edu net",
    "ke": "co or go ac ne",
    "br": "com net org gov edu art adv eng med ind inf mil",
    "mx": "com org gob edu net",
    "ar": "com org gob gov edu net int",
    "co": "com org gov edu net",
    "pe": "com org gob edu net",
    "cl": "gob gov",
    "ve": "com org gob co",
    "ec": "com org gob edu",
    "uy": "com org gub edu",
    "es": "com org gob edu nom",
    "fr": "gouv asso com tm nom prd",
    "pt": "com org gov edu",
    "gr": "com org gov edu net",
    "cy": "com org gov ac",
    "mt": "com org gov edu",
    "at": "co or gv ac",
    "be": "ac",
    "hu": "co org",
    "ro": "com org",
    "pl": "com org net gov edu",
    "rs": "co org edu gov ac in",
    "ua": "com org gov net edu in",
    "it": "gov",
}.items()}

# Free-mail providers: the registrable domain, or its name under any suffix for the families.
_FREE_MAIL = frozenset("""
    gmail.com googlemail.com icloud.com me.com mac.com proton.me protonmail.com protonmail.ch pm.me
    msn.com live.com live.co.uk live.fr live.de live.nl live.it live.be live.ca live.com.au passport.com
    ymail.com rocketmail.com mail.com email.com gmx.net gmx.de web.de t-online.de freenet.de posteo.de
    mailbox.org orange.fr wanadoo.fr free.fr laposte.net sfr.fr neuf.fr libero.it virgilio.it tiscali.it
    alice.it tin.it mail.ru bk.ru inbox.ru list.ru rambler.ru qq.com 163.com 126.com sina.com yeah.net
    naver.com daum.net hanmail.net seznam.cz wp.pl o2.pl onet.pl interia.pl bluewin.ch tutanota.com tuta.io
    fastmail.com hey.com btinternet.com sky.com telenet.be skynet.be ziggo.nl kpnmail.nl xs4all.nl
    terra.com.br uol.com.br bol.com.br comcast.net verizon.net att.net sbcglobal.net rediffmail.com aim.com
""".split())
_FREE_MAIL_FAMILIES = frozenset({"hotmail", "yahoo", "gmx", "outlook", "aol", "yandex"})


@dataclass(frozen=True)
class Organisation:
    """A sender's organisation: ``key`` (ASCII registrable domain, lower-case) and ``name`` (its Unicode form)."""

    key: str
    name: str


def organisation_of(sender: str | None) -> Organisation | None:
    """The organisation of a From address (``anna@example.org`` or ``Anna <anna@example.org>``).

    None for a free-mail address (an individual) and for anything that is not a usable address.
    """
    key = organisation_key(sender)
    return None if key is None else Organisation(key, display_name(key))


def organisation_key(sender: str | None) -> str | None:
    """The organisation key of a From address; None for an individual (free mail) or a malformed address."""
    domain = _domain_of(sender)
    if domain is None:
        return None
    labels = _ascii_labels(domain)
    if labels is None:
        return None
    registrable = _registrable(labels)
    if registrable is None or is_free_mail(registrable):
        return None
    return registrable


def normalise_key(text: str | None) -> str | None:
    """``text`` as an organisation key (a domain in any case or script, subdomains dropped); None if it is none.

    For keys that come from outside (an address bar): what is not a domain name never reaches the database.
    """
    if text is None or len(text) > MAX_KEY_CHARS * 4 or "@" in text:
        return None
    labels = _ascii_labels(text)
    if labels is None:
        return None
    registrable = _registrable(labels)
    return None if registrable is None or is_free_mail(registrable) else registrable


def display_name(key: str) -> str:
    """How people read an organisation key: the Unicode form of an international domain."""
    labels = []
    for label in key.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except UnicodeError:
                pass
        labels.append(label)
    return ".".join(labels)


def is_free_mail(domain: str) -> bool:
    """Whether a registrable domain (ASCII, lower-case) belongs to a free-mail provider."""
    if domain in _FREE_MAIL:
        return True
    return domain.split(".", 1)[0] in _FREE_MAIL_FAMILIES


def _domain_of(sender: str | None) -> str | None:
    if not sender:
        return None
    text = sender.strip()
    if "<" in text:
        start = text.rfind("<")
        end = text.find(">", start)
        text = text[start + 1:end if end != -1 else len(text)]
    if "@" not in text:
        return None
    domain = text.rsplit("@", 1)[1].strip().rstrip(">").strip()
    if not domain or domain.startswith("["):  # an IP literal: nobody's organisation
        return None
    return domain


def _ascii_labels(domain: str) -> list[str] | None:
    text = unicodedata.normalize("NFC", domain).translate(_DOTS).strip().rstrip(".").lower()
    if not text or len(text) > MAX_KEY_CHARS * 4:
        return None
    labels: list[str] = []
    for label in text.split("."):
        if not label:
            return None
        if not label.isascii():
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError:
                return None
        elif label.startswith("xn--"):
            try:  # a punycode label must decode to something
                label.encode("ascii").decode("idna")
            except UnicodeError:
                return None
        if not _ASCII_LABEL.match(label):
            return None
        labels.append(label)
    if len(labels) < 2 or len(".".join(labels)) > MAX_KEY_CHARS:
        return None
    top = labels[-1]
    if not (top.isalpha() or top.startswith("xn--")):  # 192.0.2.1 and other numbers are no domains
        return None
    return labels


def _registrable(labels: list[str]) -> str | None:
    top, second = labels[-1], labels[-2]
    if second in _SECOND_LEVEL.get(top, ()):
        # ``co.uk`` alone is a public suffix, nobody's organisation
        return ".".join(labels[-3:]) if len(labels) >= 3 else None
    return ".".join(labels[-2:])
