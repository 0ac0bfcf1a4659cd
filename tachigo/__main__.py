"""tachigo: one command for every process and tool of the watch-to-earn engine.

Configuration comes from ``TACHIGO_*`` environment variables; see docs/configuration.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from tachigo.errors import TachigoError
from tachigo.logging import setup_logging
from tachigo.settings import Settings


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.web.processes import run_api_processes

    if args.processes:
        settings.api.processes = args.processes
    return run_api_processes(settings)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if args.no_supervise:
        from tachigo.agents.app import run_worker

        return run_worker(settings)
    from tachigo.agents.supervisor import run_supervised

    return run_supervised([sys.executable, "-m", "tachigo", "worker", "--no-supervise"])


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.ledger.migrate import apply_migrations

    applied = asyncio.run(apply_migrations(settings))
    print(
        f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}"
    )
    return 0


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.ledger.cli import reconcile

    return asyncio.run(reconcile(settings))


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.dev import cli

    if args.action == "up":
        cli.dev_up(settings, with_services=not args.infra_only)
        return 0
    if args.action == "down":
        cli.dev_down(settings)
        return 0
    return cli.dev_status(settings)


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.replay.cli import run_replay

    return asyncio.run(run_replay(settings, args))


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.bench.cli import run_bench

    return run_bench(settings, args)


def cmd_channel(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.ledger.cli import channel_command

    return asyncio.run(channel_command(settings, args))


def cmd_role(settings: Settings, args: argparse.Namespace) -> int:
    from tachigo.ledger.cli import role_command

    return asyncio.run(role_command(settings, args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tachigo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    api = sub.add_parser("api", help="run the HTTP API (ingest, balances, webhooks)")
    api.add_argument(
        "--processes",
        type=int,
        default=0,
        help="API processes sharing the port (default TACHIGO_API__PROCESSES)",
    )
    api.set_defaults(func=cmd_api)
    worker = sub.add_parser(
        "worker", help="run the Faust worker (watch and ledger agents)"
    )
    worker.add_argument(
        "--no-supervise",
        action="store_true",
        help="run faust in this process; by default a supervisor restarts "
        "it after an exit that left its batch uncommitted",
    )
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="apply pending SQL migrations").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser(
        "reconcile", help="check ledger invariants; exit 1 on any violation"
    ).set_defaults(func=cmd_reconcile)

    dev = sub.add_parser(
        "dev", help="run Kafka, Postgres, worker and API locally (no Docker)"
    )
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.add_argument(
        "--infra-only",
        action="store_true",
        help="with up: only Kafka, Postgres, topics and migrations",
    )
    dev.set_defaults(func=cmd_dev)

    replay = sub.add_parser("replay", help="replay the real Twitch sessions data set")
    add_replay_arguments(replay)
    replay.set_defaults(func=cmd_replay)

    bench = sub.add_parser("bench", help="print throughput and latency figures")
    bench.add_argument("target", choices=["ingest", "pipeline", "ledger"])
    bench.add_argument("--seconds", type=float, default=10.0, help="load duration")
    bench.add_argument("--connections", type=int, default=64, help="concurrent clients")
    bench.add_argument("--viewers", type=int, default=20_000, help="distinct viewers")
    bench.set_defaults(func=cmd_bench)

    channel = sub.add_parser(
        "channel", help="register a channel or set it live/offline"
    )
    channel.add_argument("action", choices=["create", "live", "offline"])
    channel.add_argument("channel_id")
    channel.add_argument("--seconds-per-point", type=int)
    channel.add_argument("--multiplier", type=int)
    channel.add_argument("--daily-cap-points", type=int)
    channel.add_argument("--time-zone")
    channel.add_argument("--no-require-live", action="store_true")
    channel.set_defaults(func=cmd_channel)

    role = sub.add_parser(
        "role", help="set a user's role (how the first admin is made)"
    )
    role.add_argument("user_id", help="the user's tachigo id (UUID)")
    role.add_argument("role", choices=["viewer", "streamer", "agency", "admin"])
    role.add_argument("--reason", default="set from the command line")
    role.set_defaults(func=cmd_role)
    return parser


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="sessions CSV (.csv.gz); default: ../shared/data/twitch-sessions",
    )
    parser.add_argument(
        "--days", type=float, default=1.0, help="days of data to replay"
    )
    parser.add_argument("--start-day", type=int, default=0, help="first day (0-based)")
    parser.add_argument(
        "--users", type=int, default=0, help="limit to N viewers (0 = all)"
    )
    parser.add_argument(
        "--speed", type=float, default=0.0, help="x real time (0 = as fast as possible)"
    )
    parser.add_argument(
        "--seed", type=int, default=20190601, help="seed for the drawn session lengths"
    )
    parser.add_argument(
        "--name", default=None, help="replay clock name (default: derived)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the worker to credit everything",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="only write records; do not wait for and check the totals",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level)
    func: Callable[[Settings, argparse.Namespace], int] = args.func
    try:
        return func(settings, args)
    except TachigoError as error:
        print(
            f"tachigo {args.command}: [{error.code}] {error.message}", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
