"""Fixtures for tests against the real Kafka and Postgres that ``tachigo dev up
--infra-only`` starts. Each test session gets its own database and its own topics, so
runs never see each other's data (the journal is append-only and cannot be emptied)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from tachigo.kafka.producer import RecordProducer
from tachigo.kafka.topics import ensure_topics
from tachigo.ledger.migrate import apply_migrations
from tachigo.settings import Settings

SESSION_TAG = f"t{os.getpid()}{secrets.token_hex(3)}"


def admin_dsn(settings: Settings) -> str:
    port = settings.dev.postgres_port
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def settings_env(tag: str, base: Settings) -> dict[str, str]:
    """Environment for processes that must use this test session's database/topics."""
    port = base.dev.postgres_port
    return {
        "TACHIGO_POSTGRES__DSN": f"postgresql://tachigo@127.0.0.1:{port}/{tag}",
        "TACHIGO_KAFKA__HEARTBEATS_TOPIC": f"{tag}-heartbeats",
        "TACHIGO_KAFKA__STREAM_EVENTS_TOPIC": f"{tag}-stream-events",
        "TACHIGO_KAFKA__CREDITS_TOPIC": f"{tag}-credits",
        "TACHIGO_KAFKA__DEAD_LETTERS_TOPIC": f"{tag}-dead-letters",
        "TACHIGO_KAFKA__APP_ID": f"{tag}-worker",
        "TACHIGO_KAFKA__HEARTBEAT_PARTITIONS": "4",
    }


@pytest.fixture(scope="session")
def test_env() -> Iterator[dict[str, str]]:
    env = settings_env(SESSION_TAG, Settings())
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    return Settings()


@pytest_asyncio.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    """A fresh database for this session, migrated; dropped at the end."""
    try:
        admin = await asyncpg.connect(admin_dsn(settings), timeout=5)
    except OSError as error:
        pytest.fail(
            f"Postgres is not running ({error}); run `tachigo dev up --infra-only`"
        )
    await admin.execute(f'CREATE DATABASE "{SESSION_TAG}" OWNER tachigo')
    await apply_migrations(settings)
    yield SESSION_TAG
    await admin.execute(f'DROP DATABASE IF EXISTS "{SESSION_TAG}" WITH (FORCE)')
    await admin.close()


@pytest_asyncio.fixture(scope="session")
async def pool(settings: Settings, database: str) -> AsyncIterator[asyncpg.Pool]:
    from tachigo.ledger.pool import create_pool

    pool = await create_pool(settings)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="session")
async def topics(settings: Settings) -> AsyncIterator[list[str]]:
    try:
        await ensure_topics(settings)
    except Exception as error:  # boundary: turn a missing broker into a clear failure
        pytest.fail(
            f"Kafka is not reachable ({error!r}); run `tachigo dev up --infra-only`"
        )
    yield [settings.kafka.heartbeats_topic, settings.kafka.credits_topic]


@pytest_asyncio.fixture(scope="session")
async def producer(
    settings: Settings, topics: list[str]
) -> AsyncIterator[RecordProducer]:
    producer = RecordProducer(settings)
    await producer.start()
    yield producer
    await producer.stop()


class WorkerProcess:
    """A real ``tachigo worker`` subprocess, for end-to-end and crash tests."""

    def __init__(
        self, env: dict[str, str], log_path: Path, *, supervised: bool = True
    ) -> None:
        # The worker is a service under test, not test code: no asyncio debug mode,
        # which slows its changelog recovery several times over.
        self.env = {
            k: v for k, v in {**os.environ, **env}.items() if k != "PYTHONASYNCIODEBUG"
        }
        self.supervised = supervised
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self) -> None:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tachigo",
                "worker",
                *([] if self.supervised else ["--no-supervise"]),
            ],
            env=self.env,
            start_new_session=True,  # its own process group: stop() reaches the child
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            text = self.log_path.read_bytes()[self._offset :]
            if b'"worker_ready"' in text:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"worker not ready in {timeout_s}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (supervisor and faust child)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of the group (a child that ignored SIGTERM) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest_asyncio.fixture
async def worker(
    test_env: dict[str, str], database: str, topics: list[str], tmp_path: Path
) -> AsyncIterator[WorkerProcess]:
    process = WorkerProcess(test_env, tmp_path / "worker.log")
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()
