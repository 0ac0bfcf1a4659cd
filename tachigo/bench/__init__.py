"""Benchmarks that print figures (``tachigo bench ingest|pipeline|ledger``).

Owns the load set-up (bench channels, viewers and tokens), the Go load generator's
build and run (``bench/loadgen``), and the measurements. Each benchmark assumes the
services of ``tachigo dev up`` are running; docs/performance.md records the results.
"""
