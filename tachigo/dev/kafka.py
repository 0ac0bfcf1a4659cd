"""A single-node KRaft Kafka broker (broker and controller in one JVM) for development.

It runs from the jars ``scripts/bootstrap.sh`` resolves into ``.tachigo/kafka-libs``;
state lives in ``<data_dir>/kafka`` and logs in ``<data_dir>/logs``.
"""

from __future__ import annotations

import base64
import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

from tachigo.dev import processes
from tachigo.dev.processes import LOOPBACK, ComponentStatus, DevInfraError, say
from tachigo.settings import Settings

NAME = "kafka"
NODE_ID = 1
# Half a gigabyte is plenty for a dev broker and leaves the rest of a 2-core box alone.
HEAP_ARGS = ("-Xms512m", "-Xmx512m")
START_DEADLINE_S = 90.0
# A controlled shutdown of a single node takes a few seconds; more means it hangs.
STOP_GRACE_S = 30.0
FORMAT_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 1.0
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
BROKER_CLASS = "kafka.Kafka"
# Metadata v4 is the oldest version Kafka 4 still answers (KIP-896 removed v0-v3).
METADATA_API_KEY = 3
METADATA_API_VERSION = 4
METADATA_REPLY_BYTES_MAX = 1024 * 1024


def repo_root() -> Path:
    """Return the source checkout this package runs from (dev tooling needs one)."""
    return Path(__file__).resolve().parents[2]


def kafka_libs_dir() -> Path:
    """Return the folder of broker jars.

    Raises:
        DevInfraError: the jars were never resolved.
    """
    libs = repo_root() / ".tachigo" / "kafka-libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise DevInfraError(
            f"Kafka broker jars not found in {libs}; run scripts/bootstrap.sh, which "
            "resolves them with Maven from infra/kafka/pom.xml",
            libs_dir=str(libs),
        )
    return libs


def server_properties(settings: Settings, *, log_dir: Path) -> str:
    """Render ``server.properties`` for a combined broker and controller on loopback."""
    dev = settings.dev
    props = {
        "process.roles": "broker,controller",
        "node.id": NODE_ID,
        # A static voter set keeps working if the controller port setting changes;
        # a dynamic (--standalone) quorum would remember the old port in its log.
        "controller.quorum.voters": f"{NODE_ID}@{LOOPBACK}:{dev.kafka_controller_port}",
        "listeners": (
            f"PLAINTEXT://{LOOPBACK}:{dev.kafka_port},"
            f"CONTROLLER://{LOOPBACK}:{dev.kafka_controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{dev.kafka_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": log_dir,
        "metadata.log.dir": log_dir,
        # DESIGN section 3: topics are created explicitly; a typo must fail, not
        # silently make a one-partition topic.
        "auto.create.topics.enable": "false",
        "num.partitions": 1,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
    }
    header = "# Written by tachigo dev up (tachigo/dev/kafka.py); edits are lost.\n"
    return header + "".join(f"{key}={value}\n" for key, value in props.items())


def start_kafka(settings: Settings) -> None:
    """Start the broker unless it runs, then wait until it answers Metadata requests.

    Formats the storage on first use. Idempotent: a running broker is only reported.

    Raises:
        DevInfraError: jars missing, a port taken by someone else, or not ready in time.
    """
    data_dir = processes.data_dir_of(settings)
    port = settings.dev.kafka_port
    logs = [data_dir / "logs" / "kafka-server.log", processes.log_path(data_dir, NAME)]
    pid = processes.running_pid(data_dir, NAME)
    if pid is not None:
        processes.wait_until(
            lambda: answers_metadata(port),
            deadline_s=START_DEADLINE_S,
            what=NAME,
            logs=logs,
        )
        say(NAME, f"already running (pid {pid}, {LOOPBACK}:{port})")
        return

    check_ports_free(settings)
    libs = kafka_libs_dir()
    kafka_dir = data_dir / "kafka"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    config = kafka_dir / "server.properties"
    config.write_text(server_properties(settings, log_dir=kafka_dir / "data"))
    if format_storage(settings, kafka_dir=kafka_dir, libs=libs):
        say(NAME, f"formatted new storage in {kafka_dir / 'data'}")

    say(NAME, "starting ...")
    argv = broker_argv(libs=libs, config=config, logs_dir=data_dir / "logs")
    process = processes.start_background(NAME, argv, data_dir=data_dir)
    elapsed_s = processes.wait_until(
        lambda: answers_metadata(port),
        deadline_s=START_DEADLINE_S,
        what=NAME,
        logs=logs,
        process=process,
    )
    say(NAME, f"ready in {elapsed_s:.1f}s (pid {process.pid}, {LOOPBACK}:{port})")


def check_ports_free(settings: Settings) -> None:
    """Raise if another process already listens where our broker must.

    Raises:
        DevInfraError: a port is taken.
    """
    dev = settings.dev
    for port, variable in (
        (dev.kafka_port, "TACHIGO_DEV__KAFKA_PORT"),
        (dev.kafka_controller_port, "TACHIGO_DEV__KAFKA_CONTROLLER_PORT"),
    ):
        if processes.is_port_open(port):
            raise DevInfraError(
                f"kafka: port {port} on {LOOPBACK} is taken by a process tachigo dev "
                f"did not start; stop it or set {variable}",
                port=port,
            )


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise DevInfraError("kafka: `java` (17 or newer) is not on PATH; install a JDK")
    return java


def broker_argv(*, libs: Path, config: Path, logs_dir: Path) -> list[str]:
    log4j = repo_root() / "infra" / "kafka" / "log4j2.yaml"
    return [
        java_binary(),
        *HEAP_ARGS,
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={logs_dir}",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        BROKER_CLASS,
        str(config),
    ]


def format_storage(settings: Settings, *, kafka_dir: Path, libs: Path) -> bool:
    """Format ``kafka_dir/data`` for a new cluster once; return whether it did now.

    Formats into a scratch folder and renames it, so a crash never leaves a half
    formatted log dir behind.

    Raises:
        DevInfraError: the storage tool failed, or the data dir is not ours to reuse.
    """
    data = kafka_dir / "data"
    if (data / "meta.properties").exists():
        return False
    if data.exists():
        raise DevInfraError(
            f"kafka: {data} exists but has no meta.properties, so it was not formatted "
            "by tachigo dev; delete it to start with an empty broker",
            path=str(data),
        )
    scratch = kafka_dir / "data.formatting"
    shutil.rmtree(scratch, ignore_errors=True)
    config = kafka_dir / "format.properties"
    config.write_text(server_properties(settings, log_dir=scratch))
    tool = [java_binary(), "-cp", f"{libs}/*", STORAGE_TOOL_CLASS]
    argv = [*tool, "format", "--config", str(config), "--cluster-id", new_cluster_id()]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise DevInfraError(
            f"kafka: storage format exited with code {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[-800:]}",
            exit_code=result.returncode,
        )
    scratch.rename(data)
    config.unlink()
    return True


def new_cluster_id() -> str:
    """Return a random cluster id in Kafka's form: a UUID, url-safe base64, no padding.

    Kafka avoids ids starting with '-' because its tools would read them as flags.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def stop_kafka(settings: Settings) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after ``STOP_GRACE_S``); idempotent."""
    data_dir = processes.data_dir_of(settings)
    started = time.monotonic()
    if processes.stop(data_dir, NAME, grace_s=STOP_GRACE_S):
        say(NAME, f"stopped in {time.monotonic() - started:.1f}s")
    else:
        say(NAME, "not running")


def kafka_status(settings: Settings) -> ComponentStatus:
    data_dir = processes.data_dir_of(settings)
    port = settings.dev.kafka_port
    pid = processes.running_pid(data_dir, NAME)
    if pid is None:
        return ComponentStatus(NAME, is_up=False, pid=None, port=port)
    if not answers_metadata(port):
        return ComponentStatus(NAME, False, pid, port, note="not answering Metadata")
    return ComponentStatus(NAME, is_up=True, pid=pid, port=port)


def answers_metadata(port: int, *, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Return whether the broker on loopback ``port`` lists a broker in its Metadata.

    A KRaft broker only lists itself once it has registered with the controller and
    caught up with the metadata log, which is when clients can use it.
    """
    correlation_id = 1
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout_s) as conn:
            conn.sendall(metadata_request(correlation_id))
            reply = read_frame(conn)
    except OSError:
        return False
    if len(reply) < 12:
        return False
    # Response header v0 (correlation id), then throttle time and the broker count.
    got_id, _throttle_ms, brokers = struct.unpack(">iii", reply[:12])
    return bool(got_id == correlation_id and brokers > 0)


def metadata_request(correlation_id: int) -> bytes:
    """Encode a Metadata v4 request for no topics, with a v1 request header."""
    client_id = b"tachigo-dev"
    payload = struct.pack(
        f">hhih{len(client_id)}s",
        METADATA_API_KEY,
        METADATA_API_VERSION,
        correlation_id,
        len(client_id),
        client_id,
    )
    # An empty topic array asks for brokers only; auto-create is false either way.
    payload += struct.pack(">ib", 0, 0)
    return struct.pack(">i", len(payload)) + payload


def read_frame(conn: socket.socket) -> bytes:
    """Read one size-prefixed Kafka frame; a short read or odd size is an OSError."""
    size = struct.unpack(">i", read_exactly(conn, 4))[0]
    if not 0 < size <= METADATA_REPLY_BYTES_MAX:
        raise OSError(f"unexpected Kafka frame size {size}")
    return read_exactly(conn, size)


def read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = conn.recv(remaining)
        if not chunk:
            raise OSError("connection closed mid-frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
