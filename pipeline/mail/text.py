"""Bytes to text whatever the declared charset, and HTML to readable plain text."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

from charset_normalizer import from_bytes

# Charset labels seen in real mail that Python does not know by these names.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "x-euc-jp": "euc_jp",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "iso-8859-1": "cp1252",  # senders who say latin-1 almost always mean cp1252
    "latin1": "cp1252",
    "latin-1": "cp1252",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def lookup_charset(label: str | None) -> str | None:
    """The Python codec name for a charset label, or None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str, bool]:
    """Decode ``data`` as text: ``(text, codec used, True if the declared charset was not used)``.

    Valid UTF-8 wins over a declared single-byte charset (senders mislabel UTF-8
    far more often than Latin text happens to be valid UTF-8); then the declared
    charset, a statistical guess, and cp1252 with replacement, so it always
    returns text.
    """
    codec = lookup_charset(declared)
    wide = codec is not None and codec.startswith(("utf-16", "utf-32"))
    if not wide and data.isascii():
        if codec is not None:
            try:
                return clean_text(data.decode(codec)), codec, False
            except (UnicodeDecodeError, LookupError):
                pass
        return clean_text(data.decode("ascii")), "ascii", False
    if not wide:
        try:
            return clean_text(data.decode("utf-8")), "utf-8", codec not in (None, "utf-8")
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return clean_text(data.decode(codec)), codec, False
        except (UnicodeDecodeError, LookupError):
            pass
    if _looks_single_byte(data):
        try:
            return clean_text(data.decode("cp1252")), "cp1252", True
        except UnicodeDecodeError:
            pass
    if len(data) <= 200_000:
        best = from_bytes(data).best()
        if best is not None and best.encoding:
            try:
                return clean_text(data.decode(best.encoding)), best.encoding, True
            except (UnicodeDecodeError, LookupError):
                pass
    return clean_text(data.decode("cp1252", errors="replace")), "cp1252", True


def _without_surrogates(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # Undecodable bytes carried as surrogate escapes (email's policy.default does this for 8-bit headers).
        data = text.encode("utf-8", "surrogateescape" if _only_escapes(text) else "surrogatepass")
        return data.decode("utf-8", "replace") if not _only_escapes(text) else decode_bytes(data)[0]


def _only_escapes(text: str) -> bool:
    return all(not ("\ud800" <= ch <= "\udfff") or "\udc80" <= ch <= "\udcff" for ch in text)


_HIGH_RUN = re.compile(rb"[\x80-\xff]{2,}")
_HIGH = re.compile(rb"[\x80-\xff]")


def _looks_single_byte(data: bytes) -> bool:
    """True when 8-bit bytes stand mostly alone between ASCII, as accented Latin letters do.

    Multi-byte encodings (CJK, UTF-8) put them in runs; statistical guessing suits those better.
    """
    sample = data[:20_000]
    high = len(_HIGH.findall(sample))
    in_runs = sum(len(m) for m in _HIGH_RUN.findall(sample))
    return high > 0 and in_runs <= high // 2


def clean_text(text: str) -> str:
    """Normalise newlines, drop control characters (NUL breaks databases) and decode stray surrogates."""
    if not text.isascii():
        text = _without_surrogates(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).replace("\xa0", " ")


_BLOCK_TAGS = frozenset(
    "address article aside blockquote center dd details dialog div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr legend li main nav ol p pre section summary table tbody "
    "thead tfoot tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg", "object"})
_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())


class _TextExtractor(HTMLParser):
    def __init__(self, max_chars: int) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.size = 0
        self.max_chars = max_chars
        self.skip_depth = 0
        self.quote_depth = 0
        self.at_line_start = True

    def _emit(self, text: str) -> None:
        if self.size >= self.max_chars:
            return
        if self.quote_depth and "\n" in text:
            text = text.replace("\n", "\n" + "> " * self.quote_depth)
        self.chunks.append(text)
        self.size += len(text)

    def _newline(self) -> None:
        self._emit("\n")
        if self.quote_depth:
            pass
        self.at_line_start = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            return
        if tag == "br":
            self._newline()
        elif tag == "blockquote":
            self._newline()
            self.quote_depth += 1
            self._emit("> " * self.quote_depth)
        elif tag in _BLOCK_TAGS:
            self._newline()
            if tag == "li":
                self._emit("- ")
        elif tag in ("td", "th"):
            self._emit(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._emit(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        text = re.sub(r"\s+", " ", data)
        if text.strip():
            self._emit(text)
            self.at_line_start = False


_BLANK_RUNS = re.compile(r"\n[ \t>]*\n(?:[ \t>]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def html_to_text(html: str, max_chars: int = 200_000) -> str:
    """Readable plain text from HTML: no scripts or styles, blocks on their own lines, quotes marked with '>'."""
    parser = _TextExtractor(max_chars)
    try:
        parser.feed(html[: max_chars * 4])
        parser.close()
    except (AssertionError, ValueError):  # HTMLParser gives up on some malformed markup
        pass
    text = "".join(parser.chunks)
    text = text.replace("\xa0", " ")
    lines = [line.strip() if not line.lstrip().startswith(">") else line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return clean_text(text.strip())
