"""Run N API processes on one port (SO_REUSEPORT): the kernel spreads connections."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import sys
from types import FrameType

from tachigo.logging import setup_logging
from tachigo.settings import Settings
from tachigo.web.app import serve

log = logging.getLogger(__name__)
_CHILD_STOP_GRACE_S = 15.0


def serve_child(settings: Settings) -> None:
    setup_logging(settings.log_level)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional; the default loop works, only slower
        pass
    serve(settings)


def run_api_processes(settings: Settings) -> int:
    """Start ``settings.api.processes`` servers; stop them all on SIGTERM/SIGINT."""
    count = settings.api.processes
    if count == 1:
        serve_child(settings)
        return 0
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=serve_child, args=(settings,), name=f"api-{n}")
        for n in range(count)
    ]
    for child in children:
        child.start()
    log.info(
        "api_processes_started", extra={"processes": count, "port": settings.api.port}
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # When any process exits, stop the rest: a half-sized API should be restarted whole.
    multiprocessing.connection.wait([c.sentinel for c in children])
    stop(signal.SIGTERM, None)
    exit_code = 0
    for child in children:
        child.join(_CHILD_STOP_GRACE_S)
        if child.is_alive():
            child.kill()
            child.join()
        code = child.exitcode or 0
        exit_code = exit_code or (0 if code == -signal.SIGTERM else code)
    if exit_code:
        print(
            f"an API process exited with {exit_code}; see its log lines above",
            file=sys.stderr,
        )
    return 1 if exit_code else 0
