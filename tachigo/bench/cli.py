"""``tachigo bench ingest|pipeline|ledger``: run one benchmark and print its figures."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tachigo.bench.ingest import IngestLoad, bench_ingest, build_loadgen
from tachigo.bench.ledger_writes import bench_ledger
from tachigo.bench.pipeline import bench_pipeline
from tachigo.errors import TachigoError
from tachigo.settings import Settings


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run the benchmark named by ``args.target``; 0 when it measured, else non-zero."""
    if args.seconds <= 0 or args.connections < 1 or args.viewers < 1:
        print(
            "bench: --seconds must be > 0, --connections and --viewers >= 1",
            file=sys.stderr,
        )
        return 2
    try:
        if args.target == "ingest":
            binary = build_loadgen(settings)
            load = IngestLoad(args.seconds, args.connections, args.viewers)
            return asyncio.run(bench_ingest(settings, load, binary))
        if args.target == "pipeline":
            return asyncio.run(
                bench_pipeline(settings, viewers=args.viewers, seconds=args.seconds)
            )
        return asyncio.run(bench_ledger(settings))
    except TachigoError as error:
        print(f"bench {args.target} failed: {error.message}", file=sys.stderr)
        return 1
