"""argon2id hashing runs off the loop and verifies in equal time for missing users."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tachigo.auth import passwords
from tachigo.auth.settings import PasswordSettings

FAST = PasswordSettings(time_cost=1, memory_kib=1024, parallelism=1)


async def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    encoded = await passwords.hash_password(FAST, "correct horse")

    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await passwords.verify_password(FAST, encoded, "correct horse") is True
    assert await passwords.verify_password(FAST, encoded, "correct horsE") is False


async def test_missing_hash_and_garbage_hash_verify_false() -> None:
    assert await passwords.verify_password(FAST, None, "anything") is False
    assert await passwords.verify_password(FAST, "$argon2id$garbage", "x") is False


async def test_hashing_never_holds_the_event_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncio debug mode reports callbacks slower than ``slow_callback_duration``.

    The control hashes on the loop with the same cost and must be reported; the real
    call must not be.
    """
    heavy = PasswordSettings(time_cost=2, memory_kib=32_768, parallelism=1)
    loop = asyncio.get_running_loop()
    saved = (loop.get_debug(), loop.slow_callback_duration)
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    caplog.set_level(logging.WARNING, logger="asyncio")
    try:
        await asyncio.create_task(blocking_hash(heavy))
        control = [r for r in caplog.records if "Executing" in r.getMessage()]
        caplog.clear()
        await asyncio.create_task(passwords.hash_password(heavy, "x" * 12))
        await asyncio.create_task(passwords.verify_password(heavy, None, "x" * 12))
        real = [r for r in caplog.records if "Executing" in r.getMessage()]
    finally:
        loop.set_debug(saved[0])
        loop.slow_callback_duration = saved[1]

    assert control, "the control should have been reported as a slow callback"
    assert real == []


async def blocking_hash(settings: PasswordSettings) -> str:
    return passwords.hasher_for(settings).hash("x" * 12)


async def test_changed_cost_settings_ask_for_a_rehash() -> None:
    encoded = await passwords.hash_password(FAST, "pw pw pw pw")

    assert passwords.needs_rehash(FAST, encoded) is False
    assert (
        passwords.needs_rehash(
            PasswordSettings(time_cost=2, memory_kib=1024, parallelism=1), encoded
        )
        is True
    )
    assert passwords.needs_rehash(FAST, "not a hash") is True
