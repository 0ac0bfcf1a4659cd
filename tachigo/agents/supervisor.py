"""Keep one faust worker process running: restart it when it stopped on purpose without
committing (exit 75: unfinished batch, skipped offsets) or died from a signal it did not
get from us. Any other exit ends the supervisor with the same code."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections import deque
from types import FrameType

log = logging.getLogger(__name__)

RESTARTABLE_EXIT = 75
_RESTARTS_MAX = 10
_RESTART_WINDOW_S = 300.0
_STOP_GRACE_S = 30.0


def run_supervised(argv: list[str]) -> int:
    """Run ``argv`` until it exits for good; forward SIGTERM/SIGINT to it."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    restarts: deque[float] = deque()
    while True:
        child = subprocess.Popen(argv)
        code = wait_for_child(child)
        if stopping or not should_restart(code):
            if not stopping:
                log.error("worker_exited", extra={"exit_code": code})
            return 0 if stopping and code in (0, -signal.SIGTERM) else code
        now = time.monotonic()
        restarts.append(now)
        while restarts and now - restarts[0] > _RESTART_WINDOW_S:
            restarts.popleft()
        if len(restarts) > _RESTARTS_MAX:
            log.error("worker_restarts_exhausted", extra={"restarts": len(restarts)})
            print(
                f"worker restarted {len(restarts)} times in {_RESTART_WINDOW_S:.0f}s; "
                "giving up, read the worker log for the cause",
                file=sys.stderr,
            )
            return code or 1
        log.warning("worker_restarting", extra={"exit_code": code})


def wait_for_child(child: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def should_restart(code: int) -> bool:
    return code == RESTARTABLE_EXIT or (code < 0 and code != -signal.SIGTERM)
