"""``tachigo bench ingest``: HTTP heartbeats per second into Kafka, with latencies.

The load comes from a separate Go process (``bench/loadgen``) over loopback
keep-alive connections, so the API's figures are not limited by a Python client.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from tachigo.auth.tokens import issue_access_token
from tachigo.bench.errors import BenchError
from tachigo.bench.machine import describe_machine, verdict
from tachigo.bench.synthetic import insert_viewers, register_channels
from tachigo.dev.processes import data_dir_of
from tachigo.errors import UnavailableError
from tachigo.kafka import records
from tachigo.kafka.producer import RecordProducer
from tachigo.ledger.pool import create_pool
from tachigo.replay.offsets import OffsetReader
from tachigo.settings import Settings

LOADGEN_SOURCE = Path(__file__).resolve().parents[2] / "bench" / "loadgen"
GO_BUILD_TIMEOUT_S = 300.0
# Beyond this many new messages the exact recount would take longer than the load.
RECOUNT_MESSAGES_MAX = 2_000_000
RECOUNT_BATCH_MAX = 10_000
TARGET_ACCEPTED_PER_S = 10_000
TARGET_P99_MS = 50.0


@dataclass(frozen=True, slots=True)
class IngestLoad:
    seconds: float
    connections: int
    viewers: int


def build_loadgen(settings: Settings) -> Path:
    """Build the Go load generator into ``<data dir>/bin`` (blocking; before any loop).

    Raises:
        BenchError: Go is missing or the build failed.
    """
    go = shutil.which("go")
    if go is None:
        raise BenchError(
            "the Go toolchain is not on PATH; install Go >= 1.22 to run "
            "`tachigo bench ingest`"
        )
    output = data_dir_of(settings) / "bin" / "tachigo-loadgen"
    output.parent.mkdir(parents=True, exist_ok=True)
    # GOTOOLCHAIN=local: never download another Go release, build with the one we have.
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [go, "build", "-o", str(output), "."],
        cwd=LOADGEN_SOURCE,
        env=env,
        capture_output=True,
        text=True,
        timeout=GO_BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(
            f"go build of {LOADGEN_SOURCE} failed: {done.stderr.strip()[:2000]}"
        )
    return output


async def check_api(settings: Settings) -> str:
    """Return the heartbeat URL once ``/health`` answers.

    Raises:
        UnavailableError: the API does not answer.
    """
    base = f"http://{settings.api.host}:{settings.api.port}"
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{base}/health") as response,
        ):
            if response.status != 200:
                raise UnavailableError(f"{base}/health answered {response.status}")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise UnavailableError(
            f"the API at {base} does not answer; start it with `tachigo dev up`"
        ) from error
    return f"{base}/api/v1/heartbeats"


async def prepare_load(settings: Settings, load: IngestLoad, tokens_path: Path) -> str:
    """Register a bench channel and viewers; write their tokens; return the channel."""
    tag = secrets.token_hex(4)
    pool = await create_pool(settings, size_max=2)
    producer = RecordProducer(settings)
    try:
        await producer.start()
        try:
            (channel_id,) = await register_channels(
                pool, producer, settings, prefix=f"bench-{tag}", count=1, clock="live"
            )
        finally:
            await producer.stop()
        viewers = await insert_viewers(pool, load.viewers, label=f"bench-{tag}")
    finally:
        await pool.close()
    tokens = [
        issue_access_token(settings.auth, v, "viewer", channel_id=channel_id)
        for v in viewers
    ]
    tokens_path.write_text("\n".join(tokens) + "\n")
    return channel_id


async def run_loadgen(
    binary: Path, *, url: str, tokens_path: Path, channel_id: str, load: IngestLoad
) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        str(binary),
        "-url",
        url,
        "-tokens",
        str(tokens_path),
        "-channel",
        channel_id,
        "-connections",
        str(load.connections),
        "-duration",
        f"{load.seconds}s",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(load.seconds + 60):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BenchError("the load generator did not finish in time") from None
    if process.returncode != 0:
        raise BenchError(f"the load generator failed: {stderr.decode()[:2000]}")
    result: dict[str, Any] = json.loads(stdout)
    return result


async def count_heartbeats(
    settings: Settings, channel_id: str, *, start: dict[int, int], end: dict[int, int]
) -> int | None:
    """Heartbeats for ``channel_id`` between the offsets; None if too many."""
    if sum(end[p] - start[p] for p in end) > RECOUNT_MESSAGES_MAX:
        return None
    topic = settings.kafka.heartbeats_topic
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in end if end[p] > start[p]]
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, start[tp.partition])
        return await count_heartbeats_read(consumer, channel_id, end)
    finally:
        await consumer.stop()


async def count_heartbeats_read(
    consumer: AIOKafkaConsumer, channel_id: str, end: dict[int, int]
) -> int:
    found = 0
    remaining = {tp for tp in consumer.assignment()}
    async with asyncio.timeout(120):
        while remaining:
            batch = await consumer.getmany(
                *remaining, timeout_ms=1000, max_records=RECOUNT_BATCH_MAX
            )
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp.partition]:
                        remaining.discard(tp)
                        break
                    record = records.decode(message.value)
                    found += (
                        isinstance(record, records.Heartbeat)
                        and record.channel_id == channel_id
                    )
                if await consumer.position(tp) >= end[tp.partition]:
                    remaining.discard(tp)
    return found


async def bench_ingest(settings: Settings, load: IngestLoad, binary: Path) -> int:
    url = await check_api(settings)
    bench_dir = data_dir_of(settings) / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    tokens_path = bench_dir / f"tokens-{secrets.token_hex(4)}.txt"
    offsets = OffsetReader(settings)
    await offsets.start()
    try:
        tokens_path.touch(mode=0o600)
        channel_id = await prepare_load(settings, load, tokens_path)
        topic = settings.kafka.heartbeats_topic
        partitions = list(range(settings.kafka.heartbeat_partitions))
        start = await offsets.end_offsets(topic, partitions)
        result = await run_loadgen(
            binary, url=url, tokens_path=tokens_path, channel_id=channel_id, load=load
        )
        end = await offsets.end_offsets(topic, partitions)
    finally:
        tokens_path.unlink(missing_ok=True)
        await offsets.stop()
    counted = await count_heartbeats(settings, channel_id, start=start, end=end)
    print_ingest(
        settings,
        load,
        result,
        growth=sum(end[p] - start[p] for p in end),
        counted=counted,
    )
    accepted = int(result["status"].get("202", 0))
    return 0 if counted is None or counted == accepted else 1


def print_ingest(
    settings: Settings,
    load: IngestLoad,
    result: dict[str, Any],
    *,
    growth: int,
    counted: int | None,
) -> None:
    latency = result["latency_ms"]
    accepted = int(result["status"].get("202", 0))
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(result["status"].items()))
    rate = float(result["accepted_per_s"])
    rate_verdict = verdict(rate, target=TARGET_ACCEPTED_PER_S, higher_is_better=True)
    p99_verdict = verdict(latency["p99"], target=TARGET_P99_MS, higher_is_better=False)
    found = f"{counted:,}" if counted is not None else "not recounted (too many)"
    lines = [
        f"bench ingest: {load.seconds:g}s, {load.connections} connections, "
        f"{load.viewers:,} viewers, API processes {settings.api.processes} "
        "(TACHIGO_API__PROCESSES)",
        describe_machine(),
        f"requests {result['requests']:,} ({statuses}; transport errors "
        f"{result['errors']:,}) in {result['seconds']:.2f}s",
        f"throughput {result['requests_per_s']:,.0f} req/s, "
        f"accepted (202) {rate:,.0f}/s "
        f"[target >= {TARGET_ACCEPTED_PER_S:,}/s: {rate_verdict}]",
        f"latency ms p50 {latency['p50']:.2f}, p90 {latency['p90']:.2f}, "
        f"p99 {latency['p99']:.2f}, max {latency['max']:.2f} "
        f"[target p99 < {TARGET_P99_MS:g} ms: {p99_verdict}]",
        f"kafka: heartbeats topic grew by {growth:,} messages (with the API's ticks); "
        f"bench heartbeats in it {found} vs {accepted:,} answered 202",
    ]
    if result.get("last_error"):
        lines.append(f"last transport error: {result['last_error']}")
    print("\n".join(lines))
