"""A one-line progress bar on stderr: done / total, rate and time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
# Redraw at most five times a second; a terminal cannot show more usefully.
REDRAW_INTERVAL_S = 0.2
# Without a terminal (CI logs), print a plain line at every tenth of the way.
PLAIN_STEPS = 10


def format_duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def render_progress(
    *, label: str, done: int, total: int, elapsed_s: float, unit: str
) -> str:
    """Return the bar text, e.g. ``replay [####------] 40.0% 400/1,000 records ...``."""
    fraction = min(1.0, done / total) if total > 0 else 1.0
    filled = int(fraction * BAR_WIDTH)
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    eta = format_duration((total - done) / rate) if rate > 0 else "?"
    return (
        f"{label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction * 100:5.1f}% "
        f"{done:,}/{total:,} {unit} {rate:,.0f}/s ETA {eta}"
    )


class ProgressBar:
    """Counts work done; redraws in place on a terminal, prints steps elsewhere."""

    def __init__(
        self,
        total: int,
        *,
        label: str,
        unit: str = "records",
        stream: TextIO | None = None,
    ) -> None:
        self._total, self._label, self._unit = total, label, unit
        self._stream = stream if stream is not None else sys.stderr
        self._is_terminal = self._stream.isatty()
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._plain_step = 0
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self._is_terminal and now - self._drawn_at >= REDRAW_INTERVAL_S:
            self._drawn_at = now
            self._stream.write("\r" + self.text(now))
            self._stream.flush()
        elif not self._is_terminal and self._total > 0:
            step = self.done * PLAIN_STEPS // self._total
            if step > self._plain_step:
                self._plain_step = step
                self._stream.write(self.text(now) + "\n")
                self._stream.flush()

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self._is_terminal:
            self._stream.write("\r" + self.text(time.monotonic()) + "\n")
            self._stream.flush()

    def text(self, now: float) -> str:
        return render_progress(
            label=self._label,
            done=self.done,
            total=self._total,
            elapsed_s=now - self._started,
            unit=self._unit,
        )
