"""Where a webhook may be delivered: http(s) URLs of public addresses only.

A webhook URL is typed by an admin but fetched by our workers, from inside the hospital's
network: without this rule it could reach a router's admin page, a cloud metadata service or
the database (SSRF). Checked twice: when the subscription is saved (literal addresses and
local names, without a DNS lookup, so saving never waits on DNS), and before every delivery
(the name resolved then, every address checked, so a name that later resolves inward is
refused too). WEBHOOK_ALLOW_PRIVATE lifts the rule (a HIS on the hospital's LAN; tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa")


class RefusedURL(ValueError):
    """The URL may not receive deliveries; the message says why."""


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_syntax(url: str, *, allow_private: bool) -> str:
    """The URL's host, or RefusedURL: scheme http(s), a host, no credentials, and (unless
    allowed) not a private or loopback address nor a local name."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedURL("must be an http or https URL")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise RefusedURL("must name a host")
    if parts.username or parts.password:
        raise RefusedURL("must not carry credentials")
    if port == 0:
        raise RefusedURL("port 0 is not a port")
    if allow_private:
        return host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(LOCAL_NAMES) or "." not in host:
            raise RefusedURL("must be a public host, not a local name") from None
        return host
    if not _public(ip):
        raise RefusedURL("must be a public address, not a private or loopback one")
    return host


async def check_resolved(url: str, *, allow_private: bool) -> None:
    """check_syntax, then every address the host resolves to must be public."""
    host = check_syntax(url, allow_private=allow_private)
    if allow_private:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedURL(f"the host does not resolve ({exc.strerror or exc})") from None
    for info in infos:
        if not _public(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])):
            raise RefusedURL("the host resolves to a private or loopback address")
