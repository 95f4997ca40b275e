"""HTML mail made safe to look at: an allow-list of tags, attributes and CSS properties, nothing remote.

Scripts, event handlers, forms, frames, ``<style>`` sheets, ``<base>``/``<meta>``
tricks and ``javascript:`` links are removed; links keep only http, https and
mailto targets and open outside the frame; images keep only inline ``data:``
pictures, so a tracking pixel or any remote image is never fetched. The result
is still shown in a sandboxed frame under a strict Content-Security-Policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nh3

_TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small",
    "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time",
    "tr", "tt", "u", "ul", "var", "wbr",
})
# Removed together with their content: never rendered, never fetched.
_DROP_WITH_CONTENT = frozenset({
    "script", "style", "title", "head", "noscript", "template", "iframe", "frame", "frameset", "object", "embed",
    "applet", "svg", "math", "textarea", "select", "option", "button", "audio", "video", "canvas", "xml",
})
_LAYOUT = frozenset({"style", "align", "valign", "width", "height", "bgcolor", "dir", "lang", "title"})
_ATTRIBUTES: dict[str, set[str]] = {
    "*": set(_LAYOUT),
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
    "font": {"color", "face", "size"},
    "col": {"span"},
    "colgroup": {"span"},
    "table": {"border", "cellpadding", "cellspacing"},
}
_STYLE_PROPERTIES = frozenset({
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family", "text-align",
    "text-decoration", "text-indent", "line-height", "vertical-align", "white-space", "margin", "margin-top",
    "margin-bottom", "margin-left", "margin-right", "padding", "padding-top", "padding-bottom", "padding-left",
    "padding-right", "border", "border-top", "border-bottom", "border-left", "border-right", "border-color",
    "border-style", "border-width", "border-collapse", "width", "max-width", "height", "list-style-type",
})
_LINK = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)
_INLINE_IMAGE = re.compile(r"^data:image/(?:png|gif|jpeg|webp);base64,[A-Za-z0-9+/=\s]+$", re.IGNORECASE)
_UNSAFE_STYLE = re.compile(r"url\s*\(|expression|javascript:|@import|\\|behavior|-moz-binding", re.IGNORECASE)
_UNSAFE_SIZE = re.compile(r"^\s*-|\d{4,}")


@dataclass(frozen=True)
class SafeHtml:
    """Sanitised HTML and how many images were blocked (remote pictures and tracking pixels)."""

    html: str
    blocked_images: int


def sanitize_html(html: str, max_chars: int = 2_000_000) -> SafeHtml:
    """The HTML of a mail with everything active or remote removed."""
    blocked = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if attribute == "href":
            return value if _LINK.match(value.strip()) else None
        if attribute == "src":
            if tag == "img" and _INLINE_IMAGE.match(value.strip()):
                return value
            blocked += tag == "img"
            return None
        if attribute == "style":
            return None if _UNSAFE_STYLE.search(value) else value
        if attribute in ("width", "height") and _UNSAFE_SIZE.search(value):
            return None
        return value

    cleaned = nh3.clean(
        html[:max_chars],
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=keep,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes={"http", "https", "mailto", "data"},
        filter_style_properties=set(_STYLE_PROPERTIES),
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return SafeHtml(cleaned, blocked)


def framed_document(body: str, *, blocked_images: int, language: str = "") -> str:
    """A complete HTML document around sanitised mail, for the sandboxed frame."""
    notice = (
        f'<p style="font:12px sans-serif;color:#555;border-bottom:1px solid #ccc;margin:0 0 8px;padding:4px 0">'
        f"{blocked_images} remote image(s) blocked</p>" if blocked_images else ""
    )
    lang = f' lang="{language}"' if re.fullmatch(r"[a-z]{2,3}(?:-[a-z]{2,4})?", language or "") else ""
    return (
        f"<!doctype html><html{lang}><head><meta charset=\"utf-8\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        "<style>body{font:14px/1.45 system-ui,sans-serif;margin:8px;overflow-wrap:anywhere}"
        "img{max-width:100%;height:auto}table{max-width:100%}</style></head>"
        f"<body>{notice}{body}</body></html>"
    )
