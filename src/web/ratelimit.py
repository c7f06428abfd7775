"""A token bucket per client address, in memory (one web process; several replicas each keep
their own, which multiplies the allowance by the replica count: set the rate accordingly).

Memory is bounded: at most ``max_clients`` buckets, the least recently seen dropped first
(a dropped client starts with a full bucket again, which is the only thing an attacker gains
by flooding the table, and only at the cost of ``max_clients`` other addresses).

A client is its IPv4 address, or the /64 network of its IPv6 address (:func:`client_key`): one
subscriber line or host is given a whole /64, and would otherwise have 2^64 full buckets.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

#: the IPv6 prefix one client is counted by (the smallest network a provider hands out)
IPV6_PREFIX = 64


def client_key(host: str) -> str:
    """The bucket of a client address: an IPv4 address as it is (also written IPv4-mapped,
    ``::ffff:192.0.2.1``), an IPv6 address by its /64 network, anything else as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_clients: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next request would be allowed)."""
        now = self.clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return allowed, 0.0 if allowed else (1.0 - tokens) / self.rate
