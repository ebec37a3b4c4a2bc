"""The client's real address behind reverse proxies that are trusted, and only those.

``X-Forwarded-For`` is a header anyone can send; it says something only when the peer
that sent it is a proxy the operator configured (``lakeworks up --trusted-proxy``,
``LAKEWORKS_TRUSTED_PROXIES``; default none). From such a peer the address list is
read from the right, skipping trusted proxies, and the first other address becomes
the client (what sign-in lockout and the audit log see). From any other peer the
header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from lakeworks.errors import UserError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks; ``UserError`` naming the first invalid one."""
    networks: list[Network] = []
    for raw in values:
        for item in raw.split(","):
            text = item.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise UserError(
                    f"invalid trusted proxy {text!r}",
                    hint="an IP address or network, e.g. 10.0.0.5 or 10.0.0.0/24",
                ) from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(text: str, networks: tuple[Network, ...]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def real_client(peer: str, forwarded: str | None, networks: tuple[Network, ...]) -> str:
    """The client address for a request from ``peer`` carrying ``forwarded``."""
    if not forwarded or not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer  # a malformed list: believe only the peer
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


class TrustedProxies:
    """Pure ASGI middleware: sets ``scope["client"]`` from ``X-Forwarded-For`` when the
    peer is a trusted proxy (see the module docstring)."""

    def __init__(self, app: ASGIApp, networks: tuple[Network, ...] = ()) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            client = scope.get("client")
            forwarded = ",".join(
                value.decode("latin-1")
                for name, value in scope.get("headers", ())
                if name == b"x-forwarded-for"
            )
            if client and forwarded:
                host = real_client(str(client[0]), forwarded, self.networks)
                if host != client[0]:
                    scope = {**scope, "client": (host, 0)}
        await self.app(scope, receive, send)
