"""The address of the client behind a request, also when reverse proxies stand in between.

Behind a proxy every request arrives from the proxy's own address, so a limit per address would
throttle all clients together. The proxies say whom they forwarded for in ``X-Forwarded-For``,
appending the address of their peer to the list they received; anything to the left of what a
trusted proxy appended came from the client and may be forged. So the list is read from the
right: the first address that is not one of ``TIERDESK_TRUSTED_PROXIES`` is the client. The
header is ignored altogether unless the request itself comes from a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TIERDESK_TRUSTED_PROXIES: {entry!r} is neither an IP address nor a network (CIDR)."
            ) from None
    return tuple(networks)


def trusted_proxies() -> tuple[Network, ...]:
    """The networks of ``TIERDESK_TRUSTED_PROXIES``, parsed (raises ImproperlyConfigured on a
    malformed entry). Read on every call, so a changed setting takes effect, parsed once per value."""
    entries = getattr(settings, "TIERDESK_TRUSTED_PROXIES", None) or ()
    if isinstance(entries, str):  # a single address given as a string, not a list
        entries = [entries]
    return _networks(tuple(str(entry) for entry in entries if str(entry).strip()))


def parse_address(value: str) -> Address | None:
    """An IP address from a header or REMOTE_ADDR, tolerating the port some proxies add
    ("192.0.2.1:5678", "[2001:db8::1]:443"); ``None`` when it is not an address at all."""
    value = value.strip()
    if value.startswith("["):  # [IPv6]:port
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4:port (an IPv6 address has at least two colons)
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; count them as the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    """The client's address as text: REMOTE_ADDR, or, when REMOTE_ADDR is a trusted proxy, the
    rightmost address in X-Forwarded-For that is not a trusted proxy ("unknown" if there is none).

    With no trusted proxies configured (the default) the header is never read, so a client
    cannot pick its own address by sending one.
    """
    remote_raw = str(request.META.get("REMOTE_ADDR") or "")
    remote = parse_address(remote_raw)
    if remote is None:
        return remote_raw or UNKNOWN
    networks = trusted_proxies()
    if not networks or not _is_trusted(remote, networks):
        return str(remote)
    hops = [hop for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # A trusted proxy wrote nonsense (or the list was cut): stop at the last address
            # we could read rather than believe anything further left.
            break
        client = address
        if not _is_trusted(address, networks):
            break
    # When every hop is a trusted proxy the request started inside the trusted network: the
    # leftmost one is as close to the client as we can get.
    return str(client)
