"""Fixed-window counters and client-address resolution."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tachigo.auth.ratelimit import FixedWindowLimiter, client_address, client_key


class Clock:
    """A hand-moved clock: the limiter's time source in these tests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_allows_exactly_limit_hits_per_window() -> None:
    clock = Clock()
    limiter = FixedWindowLimiter(window_s=60, keys_max=100, clock=clock)

    allowed = [limiter.hit("login", "1.2.3.4", limit=3) for _ in range(3)]
    clock.now += 20.4
    refused = limiter.hit("login", "1.2.3.4", limit=3)
    clock.now += 40
    reopened = limiter.hit("login", "1.2.3.4", limit=3)

    assert allowed == [0, 0, 0]
    assert refused == 40  # ceil(60 - 20.4)
    assert reopened == 0


def test_buckets_and_addresses_are_counted_apart() -> None:
    limiter = FixedWindowLimiter(window_s=60, keys_max=100, clock=Clock())
    limiter.hit("login", "a", limit=1)

    assert limiter.hit("login", "b", limit=1) == 0
    assert limiter.hit("register", "a", limit=1) == 0
    assert limiter.hit("login", "a", limit=1) > 0


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    limiter = FixedWindowLimiter(window_s=60, keys_max=100, clock=clock)
    limiter.hit("x", "a", limit=1)
    clock.now += 59.999

    assert limiter.hit("x", "a", limit=1) == 1


def test_memory_stays_bounded_under_many_addresses() -> None:
    clock = Clock()
    limiter = FixedWindowLimiter(window_s=60, keys_max=100, clock=clock)

    for n in range(1000):
        limiter.hit("login", f"10.0.{n // 256}.{n % 256}", limit=5)

    assert len(limiter) <= 100


def test_ended_windows_are_pruned_first() -> None:
    clock = Clock()
    limiter = FixedWindowLimiter(window_s=60, keys_max=100, clock=clock)
    for n in range(100):
        limiter.hit("login", f"old-{n}", limit=5)
    clock.now += 61

    limiter.hit("login", "new", limit=5)

    assert len(limiter) == 1


@given(
    hits=st.lists(st.floats(min_value=0, max_value=500), max_size=200),
    limit=st.integers(min_value=1, max_value=10),
)
def test_no_minute_admits_more_than_twice_the_limit(
    hits: list[float], limit: int
) -> None:
    """Fixed windows can meet at a boundary, so any 60 s span sees at most 2 x limit."""
    clock = Clock()
    limiter = FixedWindowLimiter(window_s=60, keys_max=1000, clock=clock)
    admitted: list[float] = []
    for at in sorted(hits):
        clock.now = 1000.0 + at
        if limiter.hit("b", "k", limit=limit) == 0:
            admitted.append(at)

    for start in admitted:
        assert sum(1 for t in admitted if start <= t < start + 60) <= 2 * limit
    assert len(admitted) >= min(limit, len(hits))


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unix-socket", "unix-socket"),
    ],
)
def test_client_key_groups_ipv6_by_64(address: str, key: str) -> None:
    assert client_key(address) == key


TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("198.51.100.1", "1.1.1.1", TRUSTED, "198.51.100.1"),
        ("127.0.0.1", None, TRUSTED, "127.0.0.1"),
        ("127.0.0.1", "203.0.113.5", TRUSTED, "203.0.113.5"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", TRUSTED, "203.0.113.5"),
        ("127.0.0.1", "203.0.113.5, 10.1.1.1", TRUSTED, "203.0.113.5"),
        ("127.0.0.1", "10.2.2.2, 10.1.1.1", TRUSTED, "127.0.0.1"),
        ("127.0.0.1", "203.0.113.5", [], "127.0.0.1"),
        (None, "203.0.113.5", TRUSTED, "unknown"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str | None,
    forwarded: str | None,
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    client: str,
) -> None:
    assert client_address(peer, forwarded, trusted) == client
