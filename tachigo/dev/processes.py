"""Background processes of the dev infrastructure: pid files, log files, waits, stops.

This code runs in the ``tachigo dev`` command before any event loop exists, so it
blocks; every wait polls a predicate with a short pause and gives up at a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tachigo.errors import TachigoError
from tachigo.settings import Settings

# How often a wait re-checks its predicate: short next to a 2-10 s start-up.
POLL_INTERVAL_S = 0.2
# After SIGKILL the kernel frees a process within milliseconds; 5 s means it is stuck.
KILL_WAIT_S = 5.0
LOG_TAIL_LINES = 20
LOOPBACK = "127.0.0.1"


class DevInfraError(TachigoError):
    """The dev infrastructure could not be started, checked or stopped."""

    code = "dev_infra_failed"
    status = 500


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``tachigo dev status``: ``is_up`` means it runs and answers."""

    name: str
    is_up: bool
    pid: int | None
    port: int | None
    note: str = ""


@dataclass(frozen=True)
class BackgroundProcess:
    """A process ``start_background`` launched; its output starts at ``log_offset``."""

    name: str
    pid: int
    log_path: Path
    log_offset: int
    popen: subprocess.Popen[bytes]


def say(component: str, message: str) -> None:
    """Print one progress line of the ``tachigo dev`` commands."""
    print(f"[dev] {component}: {message}", flush=True)


def data_dir_of(settings: Settings) -> Path:
    """Return ``settings.dev.data_dir`` as an absolute path (relative: from cwd)."""
    return (Path.cwd() / settings.dev.data_dir).resolve()


def log_path(data_dir: Path, name: str) -> Path:
    return data_dir / "logs" / f"{name}.log"


def pid_path(data_dir: Path, name: str) -> Path:
    return data_dir / "run" / f"{name}.pid"


def start_background(
    name: str, argv: Sequence[str], *, data_dir: Path, cwd: Path | None = None
) -> BackgroundProcess:
    """Start ``argv`` in its own session, output appended to ``logs/<name>.log``.

    Writes ``run/<name>.pid``. The process outlives the caller; end it with ``stop``.
    """
    log = log_path(data_dir, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        offset = out.tell()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        out.write(f"--- {stamp} tachigo dev starts: {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    write_pid_file(pid_path(data_dir, name), popen.pid)
    return BackgroundProcess(name, popen.pid, log, offset, popen)


def write_pid_file(path: Path, pid: int) -> None:
    """Record ``pid`` with its start time, so a reused pid is never mistaken for it."""
    ticks = process_start_ticks(pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(f"{pid} {ticks if ticks is not None else -1}\n")
    os.replace(scratch, path)


def process_start_ticks(pid: int) -> int | None:
    """Return when ``pid`` started (ticks after boot); None if gone or a zombie."""
    if not Path("/proc/self/stat").exists():
        return 0 if is_pid_alive(pid) else None  # Not Linux: no start time to compare.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in parentheses may hold spaces, so split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Alive, owned by another user (a root-started process seen by us).
    return True


def running_pid(data_dir: Path, name: str) -> int | None:
    """Return the pid in ``run/<name>.pid`` if that very process still runs."""
    try:
        pid_text, ticks_text = pid_path(data_dir, name).read_text().split()[:2]
        pid, ticks = int(pid_text), int(ticks_text)
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_start_ticks(pid) == ticks else None


def is_running(data_dir: Path, name: str) -> bool:
    return running_pid(data_dir, name) is not None


def stop(data_dir: Path, name: str, *, grace_s: float) -> bool:
    """Stop ``name`` with SIGTERM, then SIGKILL after ``grace_s``; return if it ran.

    Signals go to the process group the process leads, so its children stop too.

    Raises:
        DevInfraError: the process survived SIGKILL.
    """
    pid = running_pid(data_dir, name)
    if pid is None:
        pid_path(data_dir, name).unlink(missing_ok=True)
        return False
    ticks = process_start_ticks(pid)

    def is_gone() -> bool:
        return process_start_ticks(pid) != ticks

    signal_group(pid, signal.SIGTERM)
    if not poll_until(is_gone, deadline_s=grace_s):
        signal_group(pid, signal.SIGKILL)
        if not poll_until(is_gone, deadline_s=KILL_WAIT_S):
            raise DevInfraError(
                f"{name} (pid {pid}) survived SIGKILL; inspect it: ps -o stat {pid}",
                pid=pid,
            )
    pid_path(data_dir, name).unlink(missing_ok=True)
    return True


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Send ``signum`` to the group ``pid`` leads, or to ``pid`` alone if it leads none.

    Only a live leader is signalled: once it is gone its pid may belong to a stranger.
    """
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def poll_until(predicate: Callable[[], bool], *, deadline_s: float) -> bool:
    """Poll ``predicate`` until it holds or ``deadline_s`` passes; return which."""
    deadline = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)
    return True


def wait_until(
    predicate: Callable[[], bool],
    *,
    deadline_s: float,
    what: str,
    logs: Sequence[Path],
    process: BackgroundProcess | None = None,
) -> float:
    """Poll ``predicate`` until it holds; return the seconds it took.

    Stops early if ``process`` exits, since then it can never become ready.

    Raises:
        DevInfraError: the deadline passed or ``process`` exited; the message names
            the log files to read.
    """
    started = time.monotonic()
    deadline = started + deadline_s
    to_read = ", ".join(str(p) for p in logs)
    while not predicate():
        code = process.popen.poll() if process is not None else None
        if code is not None:
            raise DevInfraError(
                f"{what}: the process exited with code {code} before it was ready; "
                f"read {to_read}",
                exit_code=code,
                logs=[str(p) for p in logs],
            )
        if time.monotonic() >= deadline:
            raise DevInfraError(
                f"{what}: not ready after {deadline_s:.0f}s; read {to_read}",
                deadline_s=deadline_s,
                logs=[str(p) for p in logs],
            )
        time.sleep(POLL_INTERVAL_S)
    return time.monotonic() - started


def is_port_open(port: int, *, timeout_s: float = 0.5) -> bool:
    """Return whether something accepts TCP connections on loopback ``port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def log_tail(path: Path, *, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of ``path``, or a note if it cannot be read."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error.strerror})"
    return "\n".join(text.splitlines()[-lines:])
