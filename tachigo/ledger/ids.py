"""UUIDv7 ids: time-ordered, so journal rows insert at the right end of the index."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(at_ms: int | None = None) -> uuid.UUID:
    """Return a version-7 UUID for ``at_ms`` (default: now) with 74 random bits."""
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


_REPLAY_NAMESPACE = uuid.UUID("6f1c2a52-6a4e-4c55-9e0b-8c1d2e3f4a5b")


def user_id_for(provider: str, provider_id: str) -> uuid.UUID:
    """A stable user id for an outside identity (used by replays and first logins)."""
    return uuid.uuid5(_REPLAY_NAMESPACE, f"{provider}:{provider_id}")
