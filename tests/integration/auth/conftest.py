"""Fixtures for the sign-in, dashboard and agency integration tests.

The real app (``create_app``) runs on 127.0.0.1 against the real Postgres and Kafka of
``tachigo dev up`` (this session's database and topics); Twitch, Google and SMTP are
local fakes. Tests are isolated by fresh ids and emails, never by dropping tables.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from tachigo.settings import Settings
from tests.integration.auth.auth_fakes import ApiClient, FakeProviders
from tests.integration.auth.auth_helpers import build_settings, start_server

pytestmark = pytest.mark.integration
# A test that takes longer is stuck; SIGALRM interrupts the loop and fails it.
TEST_TIMEOUT_S = 60
_client_numbers = itertools.count(1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{item.name} ran longer than {TEST_TIMEOUT_S}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest_asyncio.fixture(scope="module", loop_scope="session", autouse=True)
async def loop_guard() -> AsyncIterator[list[dict[str, Any]]]:
    """Debug mode on; unhandled loop exceptions during a module fail it."""
    loop = asyncio.get_running_loop()
    previous = (loop.get_debug(), loop.get_exception_handler())
    loop.set_debug(True)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_debug(previous[0])
    loop.set_exception_handler(previous[1])
    assert not errors, f"unhandled event loop exceptions: {errors}"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def fakes() -> AsyncIterator[FakeProviders]:
    found = FakeProviders()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture(scope="session")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outbox")


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str], fakes: FakeProviders, outbox: Path) -> Settings:
    """This session's database and topics (``test_env`` from the integration
    conftest), fake OAuth providers, cheap password hashing and a test outbox."""
    return build_settings(outbox, fakes)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def server(
    settings: Settings, database: str, topics: list[str]
) -> AsyncIterator[TestServer]:
    """The real app; ``database`` and ``topics`` create and migrate what it uses."""
    started = await start_server(settings)
    yield started
    await started.close()


@pytest.fixture(scope="session")
def server_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(settings: Settings, database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        settings.postgres.dsn.get_secret_value(),
        min_size=1,
        max_size=4,
        command_timeout=10,
    )
    yield pool
    await pool.close()


def next_client_ip() -> str:
    n = next(_client_numbers)
    return f"198.18.{n // 250}.{n % 250 + 1}"


@pytest_asyncio.fixture(loop_scope="session")
async def api(server_url: str) -> AsyncIterator[ApiClient]:
    client = ApiClient(server_url, next_client_ip())
    yield client
    await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def other_api(server_url: str) -> AsyncIterator[ApiClient]:
    client = ApiClient(server_url, next_client_ip())
    yield client
    await client.close()
