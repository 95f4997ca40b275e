"""Who the client is and how it reached us: its address and whether it came over TLS.

Proxy headers count only when the direct peer is one of ``web.trusted_proxies``; otherwise anyone
could name any address (and escape the log-in throttle) or claim TLS.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from fastapi import Request

from pipeline.config import WebSettings

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in proxies)


def _trusted(address: str | None, web: WebSettings) -> bool:
    if not address or not web.trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(web.trusted_proxies)))


def client_address(request: Request, web: WebSettings) -> str | None:
    """The client's address: the peer's, or behind trusted proxies the last hop they did not add."""
    peer = request.client.host if request.client else None
    if not _trusted(peer, web):
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, web):
            return hop[:64]
    return hops[0][:64] if hops else peer


def over_tls(request: Request, web: WebSettings) -> bool:
    """Whether the client reached us over TLS (directly, or as a trusted proxy says), or cookies are set secure."""
    if web.cookie_secure or request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    if _trusted(peer, web):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False
