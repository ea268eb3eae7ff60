"""Where a webhook may point (server-side request forgery): https to public addresses in production; no
loopback, link-local, private, multicast, reserved or unspecified address, checked when the URL is saved (an
address written in it) and again for every address its host resolves to when a delivery is sent. Development and
tests may allow http and some networks (an integrator's receiver on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """A URL or address a webhook may not be sent to; `code` is the problem's field error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TargetRules:
    allow_http: bool
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def of(cls, *, allow_http: bool, allowed_networks: Sequence[str]) -> TargetRules:
        return cls(allow_http, tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks))

    def check_address(self, address: IPAddress) -> None:
        if any(address in network for network in self.allowed_networks):
            return
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            self.check_address(address.ipv4_mapped)
            return
        if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
            # is_global is False for loopback, link-local, private (RFC 1918, ULA), shared (100.64/10),
            # documentation and benchmarking ranges.
            raise TargetRefused("forbidden_address", f"{address} is not a public address")

    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of a URL a webhook may be saved with, or TargetRefused."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetRefused("invalid_url", "not a URL") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not parts.hostname:
            raise TargetRefused("invalid_url", "an absolute https URL is required")
        if scheme == "http" and not self.allow_http:
            raise TargetRefused("https_required", "webhook URLs must use https")
        if parts.username or parts.password:
            raise TargetRefused("invalid_url", "credentials in the URL are not accepted; the signature authenticates")
        if parts.fragment:
            raise TargetRefused("invalid_url", "a URL with a fragment is not accepted")
        host = parts.hostname.lower()
        literal = _literal(host)
        if literal is not None:
            self.check_address(literal)
        elif host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            # Names that resolve to this machine or its private network: refused before any lookup (a
            # development setup allows 127.0.0.1 by address, not by name).
            raise TargetRefused("forbidden_address", f"{host} is not a public host")
        return scheme, host, port or (443 if scheme == "https" else 80)

    async def resolve(self, host: str, port: int) -> IPAddress:
        """The address to connect to: every address the host resolves to must be allowed (a name with one private
        address among public ones is refused), and the connection goes to the one checked, so a second lookup
        cannot swap it (DNS rebinding)."""
        literal = _literal(host)
        if literal is not None:
            self.check_address(literal)
            return literal
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused("unresolvable", f"{host} does not resolve") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise TargetRefused("unresolvable", f"{host} does not resolve")
        for address in addresses:
            self.check_address(address)
        return addresses[0]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
