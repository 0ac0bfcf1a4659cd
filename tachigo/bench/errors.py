"""Errors of the benchmarks."""

from __future__ import annotations

from tachigo.errors import TachigoError


class BenchError(TachigoError):
    """A benchmark could not measure: a tool is missing or a stage did not finish."""

    code = "bench_failed"
    status = 500
