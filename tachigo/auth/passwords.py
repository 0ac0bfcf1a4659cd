"""argon2id password hashes. Hashing costs tens of milliseconds of CPU, so it runs in
the default thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from tachigo.auth.settings import PasswordSettings

# Verified when no account matches, so a wrong email costs as long as a wrong password.
_DUMMY_PASSWORD = "tachigo-dummy-password-for-constant-time"


@functools.lru_cache(maxsize=8)
def password_hasher(
    time_cost: int, memory_kib: int, parallelism: int
) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def hasher_for(settings: PasswordSettings) -> PasswordHasher:
    return password_hasher(
        settings.time_cost, settings.memory_kib, settings.parallelism
    )


@functools.lru_cache(maxsize=8)
def dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return password_hasher(time_cost, memory_kib, parallelism).hash(_DUMMY_PASSWORD)


async def hash_password(settings: PasswordSettings, password: str) -> str:
    """Return an encoded argon2id hash (``$argon2id$...``) of ``password``."""
    return await asyncio.to_thread(hasher_for(settings).hash, password)


def verify_password_sync(
    settings: PasswordSettings, encoded: str | None, password: str
) -> bool:
    hasher = hasher_for(settings)
    if encoded is None:
        encoded = dummy_hash(
            settings.time_cost, settings.memory_kib, settings.parallelism
        )
        hasher.verify(encoded, _DUMMY_PASSWORD)
        return False
    try:
        return hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(
    settings: PasswordSettings, encoded: str | None, password: str
) -> bool:
    """Whether ``password`` matches ``encoded``; ``None`` (no account) costs the
    same argon2 work and answers ``False``."""
    return await asyncio.to_thread(verify_password_sync, settings, encoded, password)


def needs_rehash(settings: PasswordSettings, encoded: str) -> bool:
    """Whether ``encoded`` was made with other cost settings than the current ones."""
    try:
        return hasher_for(settings).check_needs_rehash(encoded)
    except InvalidHashError:
        return True
