"""The dev Kafka and PostgreSQL keep the promises the rest of the code relies on.

These tests need the servers ``tachigo dev up --infra-only`` starts (``make test``
runs it first) and read their addresses from ``Settings()``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from tachigo.settings import Settings

pytestmark = pytest.mark.integration

TEST_TIMEOUT_S = 30.0
KAFKA_TIMEOUT_MS = 3000
TCP_LISTEN_STATE = "0A"


@pytest.fixture(scope="module")
def dev_settings() -> Settings:
    return Settings()


async def test_producing_to_an_unknown_topic_fails_and_creates_no_topic(
    dev_settings: Settings,
) -> None:
    topic = f"tachigo-test-unknown-{uuid.uuid4().hex}"
    servers = dev_settings.kafka.bootstrap_servers
    producer = AIOKafkaProducer(
        bootstrap_servers=servers, request_timeout_ms=KAFKA_TIMEOUT_MS
    )
    admin = AIOKafkaAdminClient(
        bootstrap_servers=servers, request_timeout_ms=KAFKA_TIMEOUT_MS
    )
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await producer.start()
        try:
            with pytest.raises(KafkaError):
                await producer.send_and_wait(topic, b"must not land anywhere")
        finally:
            await producer.stop()
        await admin.start()
        try:
            topics = await admin.list_topics()
        finally:
            await admin.close()

    assert topic not in topics


async def test_broker_reports_topic_auto_creation_disabled(
    dev_settings: Settings,
) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=dev_settings.kafka.bootstrap_servers,
        request_timeout_ms=KAFKA_TIMEOUT_MS,
    )
    wanted = {"auto.create.topics.enable": None}
    async with asyncio.timeout(TEST_TIMEOUT_S):
        await admin.start()
        try:
            (response,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.BROKER, "1", wanted)]
            )
        finally:
            await admin.close()

    (resource,) = response.to_object()["resources"]
    values = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    assert values == {"auto.create.topics.enable": "false"}


async def test_postgres_flushes_every_commit_to_disk(dev_settings: Settings) -> None:
    async with asyncio.timeout(TEST_TIMEOUT_S):
        conn = await asyncpg.connect(
            dev_settings.postgres.dsn.get_secret_value(), timeout=5
        )
        try:
            names = ("fsync", "synchronous_commit", "full_page_writes")
            values = {name: await conn.fetchval(f"SHOW {name}") for name in names}
        finally:
            await conn.close()

    assert values == {name: "on" for name in names}


async def test_postgres_is_configured_to_listen_on_loopback_only(
    dev_settings: Settings,
) -> None:
    async with asyncio.timeout(TEST_TIMEOUT_S):
        conn = await asyncpg.connect(
            dev_settings.postgres.dsn.get_secret_value(), timeout=5
        )
        try:
            listen_addresses = await conn.fetchval("SHOW listen_addresses")
        finally:
            await conn.close()

    assert listen_addresses == "127.0.0.1"


@pytest.mark.parametrize(
    "port_name", ["postgres_port", "kafka_port", "kafka_controller_port"]
)
def test_dev_server_sockets_are_bound_to_loopback_only(
    dev_settings: Settings, port_name: str
) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp to list listening sockets")
    port = getattr(dev_settings.dev, port_name)

    # Java listens through an IPv6 socket bound to the IPv4-mapped loopback address.
    addresses = listening_addresses(Path("/proc/net/tcp"), port) | {
        address.removeprefix("::ffff:")
        for address in listening_addresses(Path("/proc/net/tcp6"), port)
    }

    assert addresses == {"127.0.0.1"}, f"port {port} listens on {addresses}"


def listening_addresses(table: Path, port: int) -> set[str]:
    """Return the local addresses with a socket listening on ``port`` in ``table``."""
    if not table.exists():
        return set()
    found = set()
    for row in table.read_text().splitlines()[1:]:
        fields = row.split()
        address_hex, port_hex = fields[1].split(":")
        if fields[3] == TCP_LISTEN_STATE and int(port_hex, 16) == port:
            found.add(kernel_address_text(address_hex))
    return found


def kernel_address_text(address_hex: str) -> str:
    """Turn an address as /proc/net/tcp{,6} prints it (32-bit words in host byte
    order) into its usual text form."""
    raw = bytes.fromhex(address_hex)
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    packed = b"".join(struct.pack("@I", struct.unpack(">I", w)[0]) for w in words)
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed)
