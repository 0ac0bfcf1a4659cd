"""Fixed-window request counters per (bucket, client key), held in process memory."""

# LIMIT(auth): counters live in each API process; N processes allow N times the limit
# per address. Postgres or Redis counters would make them global.

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable

# IPv6 users get a whole /64 from their provider; counting single addresses would let
# one user rotate through 2**64 of them.
_IPV6_PREFIX = 64


class FixedWindowLimiter:
    """Allows ``limit`` hits per key per window; memory is bounded by ``keys_max``."""

    def __init__(
        self,
        *,
        window_s: int,
        keys_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._keys_max = keys_max
        self._clock = clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, bucket: str, key: str, *, limit: int) -> int:
        """Count one request; return 0 when allowed, else whole seconds until the
        window ends (at least 1)."""
        now = self._clock()
        started, count = self._windows.get((bucket, key), (now, 0))
        if now - started >= self._window_s:
            started, count = now, 0
        if count >= limit:
            return max(1, math.ceil(started + self._window_s - now))
        if (bucket, key) not in self._windows and len(self._windows) >= self._keys_max:
            self.prune(now)
        self._windows[(bucket, key)] = (started, count + 1)
        return 0

    def prune(self, now: float) -> None:
        """Drop ended windows; if that frees too little, drop the oldest half."""
        self._windows = {
            k: v for k, v in self._windows.items() if now - v[0] < self._window_s
        }
        if len(self._windows) >= self._keys_max:
            ordered = sorted(self._windows.items(), key=lambda item: item[1][0])
            self._windows = dict(ordered[len(ordered) // 2 :])

    def __len__(self) -> int:
        return len(self._windows)


def client_key(address: str) -> str:
    """The rate-limit key for an address: itself for IPv4, its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{_IPV6_PREFIX}", strict=False))
    return str(ip)


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    """The client's address: the socket peer, unless the peer is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right, skipping trusted
    hops; the first untrusted address is the client (anything left of it is forgeable).
    """
    if peer is None:
        return "unknown"
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not is_trusted(hop, trusted):
            return hop
    return peer


def is_trusted(
    address: str, trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
