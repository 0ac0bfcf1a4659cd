"""The ``tachigo dev up|down|status`` commands.

``dev up`` starts PostgreSQL and Kafka, applies migrations and creates the topics,
then (unless ``--infra-only``) starts ``tachigo worker`` and ``tachigo api`` in the
background. These are blocking functions for the command line: call them from plain
code, not from inside a running event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import http.client
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from tachigo.dev import processes
from tachigo.dev.kafka import kafka_status, start_kafka, stop_kafka
from tachigo.dev.postgres import postgres_status, start_postgres, stop_postgres
from tachigo.dev.processes import (
    LOOPBACK,
    BackgroundProcess,
    ComponentStatus,
    DevInfraError,
    say,
)
from tachigo.settings import Settings

T = TypeVar("T")

SERVICE_NAMES = ("worker", "api")
# Faust needs a rebalance and its tables before it is ready; 2 minutes is generous.
SERVICE_READY_DEADLINE_S = {"worker": 120.0, "api": 60.0}
# The worker commits offsets and flushes a ledger batch on SIGTERM; give it time.
SERVICE_STOP_GRACE_S = {"worker": 30.0, "api": 15.0}
# A worker that logs ready and then crashes on its first records is not ready.
SERVICE_ALIVE_MIN_S = 3.0
WORKER_READY_EVENT = "worker_ready"
STEP_DEADLINE_S = 120.0
LOCK_WAIT_S = 600.0
HTTP_PROBE_TIMEOUT_S = 1.0


def dev_up(settings: Settings, *, with_services: bool) -> None:
    """Start Postgres and Kafka, migrate, create topics, then the app processes.

    Idempotent: whatever already runs is reported and left alone. With
    ``with_services`` false (``--infra-only``) the worker and API are not started.

    Raises:
        DevInfraError: a step failed; the tails of the logs it names are printed.
    """
    started = time.monotonic()
    warn_if_apps_look_elsewhere(settings)
    with dev_lock(processes.data_dir_of(settings)):
        try:
            start_postgres(settings)
            start_kafka(settings)
            apply_migrations(settings)
            create_topics(settings)
            if with_services:
                for name in SERVICE_NAMES:
                    start_service(settings, name, service_argv(name))
        except DevInfraError as error:
            print_log_tails(error)
            raise
    elapsed_s = time.monotonic() - started
    say("up", f"done in {elapsed_s:.1f}s; stop with `tachigo dev down`")


def warn_if_apps_look_elsewhere(settings: Settings) -> None:
    """Warn when the app settings do not point at the servers ``dev up`` starts."""
    kafka_address = f"{LOOPBACK}:{settings.dev.kafka_port}"
    servers = settings.kafka.bootstrap_servers
    if kafka_address not in servers.split(","):
        say(
            "settings",
            f"WARNING: the apps use Kafka at {servers}, but the dev "
            f"broker listens on {kafka_address} (TACHIGO_KAFKA__BOOTSTRAP_SERVERS)",
        )
    # Only host and port are shown: the DSN may hold a password.
    dsn = urlsplit(settings.postgres.dsn.get_secret_value())
    if (dsn.hostname, dsn.port) != (LOOPBACK, settings.dev.postgres_port):
        say(
            "settings",
            f"WARNING: the apps use Postgres at {dsn.hostname}:{dsn.port}, "
            f"but the dev server listens on {LOOPBACK}:{settings.dev.postgres_port} "
            "(TACHIGO_POSTGRES__DSN)",
        )


def dev_down(settings: Settings) -> None:
    """Stop the API, the worker, Kafka and Postgres, in that order; idempotent.

    Goes on past a failure, so one stuck component does not keep the rest running.

    Raises:
        DevInfraError: some component could not be stopped; it names them.
    """
    steps: list[tuple[str, Callable[[], None]]] = [
        ("api", lambda: stop_service(settings, "api")),
        ("worker", lambda: stop_service(settings, "worker")),
        ("kafka", lambda: stop_kafka(settings)),
        ("postgres", lambda: stop_postgres(settings)),
    ]
    failed: list[str] = []
    with dev_lock(processes.data_dir_of(settings)):
        for name, step in steps:
            try:
                step()
            except DevInfraError as error:
                say(name, f"FAILED to stop: {error.message}")
                failed.append(name)
    if failed:
        raise DevInfraError(
            f"dev down could not stop {', '.join(failed)}; see the lines above",
            components=failed,
        )


def dev_status(settings: Settings) -> int:
    """Print one line per component; return 0 only if every one runs and answers."""
    statuses = [
        postgres_status(settings),
        kafka_status(settings),
        service_status(settings, "worker"),
        service_status(settings, "api"),
    ]
    for status in statuses:
        say(status.name, status_line(status))
    return 0 if all(status.is_up for status in statuses) else 1


def status_line(status: ComponentStatus) -> str:
    if status.pid is None:
        state = "stopped"
    else:
        state = "running" if status.is_up else "NOT READY"
    parts = [state]
    if status.port is not None:
        parts.append(f"port {status.port}")
    if status.pid is not None:
        parts.append(f"pid {status.pid}")
    if status.note:
        parts.append(status.note)
    return ", ".join(parts)


def service_argv(name: str) -> list[str]:
    return [sys.executable, "-m", "tachigo", name]


def start_service(settings: Settings, name: str, argv: Sequence[str]) -> None:
    """Start an app process in the background unless it runs; wait until it is ready.

    Ready means: the API answers ``GET /health`` with 200; the worker has lived
    ``SERVICE_ALIVE_MIN_S`` and logged a ``worker_ready`` event; any other process
    has lived ``SERVICE_ALIVE_MIN_S``. Output goes to ``<data_dir>/logs/<name>.log``.

    Raises:
        DevInfraError: it exited or was not ready in time; names the log to read.
    """
    data_dir = processes.data_dir_of(settings)
    pid = processes.running_pid(data_dir, name)
    if pid is not None:
        say(name, f"already running (pid {pid})")
        return
    say(name, "starting ...")
    process = processes.start_background(name, argv, data_dir=data_dir, cwd=Path.cwd())
    elapsed_s = processes.wait_until(
        service_readiness(settings, process),
        deadline_s=SERVICE_READY_DEADLINE_S.get(name, 60.0),
        what=name,
        logs=[process.log_path],
        process=process,
    )
    say(name, f"ready in {elapsed_s:.1f}s (pid {process.pid})")


def service_readiness(
    settings: Settings, process: BackgroundProcess
) -> Callable[[], bool]:
    """Return the predicate that says when ``process`` is ready to use."""
    started = time.monotonic()

    def has_lived() -> bool:
        return time.monotonic() - started >= SERVICE_ALIVE_MIN_S

    if process.name == "api":
        port = settings.api.port
        return lambda: answers_health(port)
    if process.name == "worker":
        watch = LogEventWatch(process.log_path, process.log_offset, WORKER_READY_EVENT)
        return lambda: watch.has_appeared() and has_lived()
    return has_lived


def stop_service(settings: Settings, name: str) -> None:
    data_dir = processes.data_dir_of(settings)
    grace_s = SERVICE_STOP_GRACE_S.get(name, 15.0)
    started = time.monotonic()
    if processes.stop(data_dir, name, grace_s=grace_s):
        say(name, f"stopped in {time.monotonic() - started:.1f}s")
    else:
        say(name, "not running")


def service_status(settings: Settings, name: str) -> ComponentStatus:
    pid = processes.running_pid(processes.data_dir_of(settings), name)
    if name == "api":
        port = settings.api.port
        is_up = pid is not None and answers_health(port)
        note = "GET /health is not 200" if pid is not None and not is_up else ""
        return ComponentStatus(name, is_up=is_up, pid=pid, port=port, note=note)
    # The worker listens on no port (faust's web server is off); it is up while its
    # supervisor runs.
    return ComponentStatus(name, is_up=pid is not None, pid=pid, port=None)


def answers_health(port: int) -> bool:
    """Return whether ``GET /health`` on loopback ``port`` answers 200."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=HTTP_PROBE_TIMEOUT_S)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class LogEventWatch:
    """Follows a JSON-lines log from an offset until a record with ``event`` appears."""

    def __init__(self, path: Path, offset: int, event: str) -> None:
        self.path = path
        self.offset = offset
        self.event = event
        self.has_seen = False

    def has_appeared(self) -> bool:
        if self.has_seen:
            return True
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        # Only whole lines count; a partial last line is read again next time.
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        lines = chunk[:end].splitlines()
        self.has_seen = any(is_event(line, self.event) for line in lines)
        return self.has_seen


def is_event(line: bytes, event: str) -> bool:
    """Return whether ``line`` is a JSON log record whose ``event`` is ``event``."""
    try:
        record = json.loads(line)
    except ValueError:
        return False  # Not every line is ours: banners and tracebacks are plain text.
    return isinstance(record, dict) and record.get("event") == event


def apply_migrations(settings: Settings) -> None:
    from tachigo.ledger.migrate import apply_migrations as apply_pending

    started = time.monotonic()
    applied = run_step("migrations", lambda: apply_pending(settings))
    done = f"applied {', '.join(applied)}" if applied else "up to date"
    say("migrations", f"{done} ({time.monotonic() - started:.1f}s)")


def create_topics(settings: Settings) -> None:
    from tachigo.kafka.topics import ensure_topics

    started = time.monotonic()
    created = run_step("topics", lambda: ensure_topics(settings))
    done = f"created {', '.join(created)}" if created else "all present"
    say("topics", f"{done} ({time.monotonic() - started:.1f}s)")


def run_step(what: str, make: Callable[[], Awaitable[T]]) -> T:
    """Run one async set-up step in a fresh event loop under ``STEP_DEADLINE_S``.

    Raises:
        DevInfraError: the step failed or ran out of time.
    """

    async def bounded() -> T:
        async with asyncio.timeout(STEP_DEADLINE_S):
            return await make()

    try:
        return asyncio.run(bounded())
    except TimeoutError as error:
        raise DevInfraError(
            f"{what}: not done after {STEP_DEADLINE_S:.0f}s; is the server up? "
            "check `tachigo dev status`"
        ) from error
    except Exception as error:
        # Boundary: any failure of a set-up step ends `dev up` with one clear line.
        raise DevInfraError(
            f"{what} failed: {type(error).__name__}: {error}", step=what
        ) from error


@contextmanager
def dev_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``run/dev.lock`` so two ``tachigo dev`` commands never interleave."""
    path = data_dir / "run" / "dev.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:

        def is_acquired() -> bool:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not is_acquired():
            say("dev", f"waiting for another tachigo dev command ({path}) ...")
            if not processes.poll_until(is_acquired, deadline_s=LOCK_WAIT_S):
                raise DevInfraError(
                    f"another tachigo dev command has held {path} for "
                    f"{LOCK_WAIT_S:.0f}s; wait for it or end it",
                    path=str(path),
                )
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def print_log_tails(error: DevInfraError) -> None:
    for log in error.details.get("logs", []):
        print(f"[dev] ---- last lines of {log} ----", flush=True)
        print(processes.log_tail(Path(log)), flush=True)
