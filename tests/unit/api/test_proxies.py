"""Which client address a request has, behind trusted and untrusted proxies."""

from __future__ import annotations

import pytest

from lakeworks.api.proxies import parse_networks, real_client
from lakeworks.errors import UserError

PROXY = parse_networks(["10.0.0.5", "10.1.0.0/16"])


def test_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    assert real_client("127.0.0.1", "203.0.113.9", ()) == "127.0.0.1"
    assert real_client("192.0.2.1", "203.0.113.9", PROXY) == "192.0.2.1"


def test_forwarded_header_from_a_trusted_proxy_names_the_client() -> None:
    assert real_client("10.0.0.5", "203.0.113.9", PROXY) == "203.0.113.9"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    # a client cannot forge its way past the proxy: it can only prepend entries
    forged = "198.51.100.1, 203.0.113.9, 10.1.2.3"
    assert real_client("10.0.0.5", forged, PROXY) == "203.0.113.9"


def test_a_malformed_list_believes_only_the_peer() -> None:
    assert real_client("10.0.0.5", "not-an-ip", PROXY) == "10.0.0.5"


def test_networks_are_validated() -> None:
    assert len(parse_networks(["10.0.0.1, 10.0.0.0/8", ""])) == 2
    with pytest.raises(UserError, match="invalid trusted proxy 'proxy\\.local'"):
        parse_networks(["proxy.local"])
