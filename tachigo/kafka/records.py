"""Wire format of the records on our topics: compact JSON objects, one kind per record.

The ``heartbeats`` topic carries four kinds, all in the order the worker must judge
them:
``hb`` (keyed by user id), and the control kinds ``tick``, ``stream`` and ``settings``,
which are written to every partition so each partition sees them in order with its
heartbeats. ``clock`` names the timeline a record's time belongs to: ``live`` for the
ingest, ``replay:<name>`` for a replay, so a replay of old data never meets live ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

LIVE_CLOCK = "live"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    user_id: str
    channel_id: str
    at_ms: int
    source: str = "ext"
    clock: str = LIVE_CLOCK
    kind: str = "hb"
    # The viewer's Twitch user id when known: channel ignore lists name Twitch ids.
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    at_ms: int
    clock: str = LIVE_CLOCK
    kind: str = "tick"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    channel_id: str
    online: bool
    at_ms: int
    stream_id: str | None = None
    clock: str = LIVE_CLOCK
    kind: str = "stream"


@dataclass(frozen=True, slots=True)
class SettingsEvent:
    """A full snapshot of one channel's earn settings (see
    ``rules.ChannelSettings``).
    """

    channel_id: str
    settings: dict[str, Any]
    at_ms: int
    clock: str = LIVE_CLOCK
    kind: str = "settings"


@dataclass(frozen=True, slots=True)
class Credit:
    credit_id: str
    user_id: str
    channel_id: str
    bucket_start_s: int
    seconds: int
    points: int
    multiplier: int
    closed_at_ms: int
    kind: str = "credit"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    error_code: str
    agent: str
    message: str
    kind: str = "dead_letter"
    extra: dict[str, Any] = field(default_factory=dict)


ControlRecord = Tick | StreamEvent | SettingsEvent
HeartbeatTopicRecord = Heartbeat | ControlRecord

_KINDS: dict[str, type] = {
    "hb": Heartbeat,
    "tick": Tick,
    "stream": StreamEvent,
    "settings": SettingsEvent,
    "credit": Credit,
    "dead_letter": DeadLetter,
}


class RecordFormatError(ValueError):
    """The bytes are not a record we know; the caller dead-letters them."""


def encode(record: Any) -> bytes:
    return orjson.dumps(record)  # orjson writes dataclasses field by field


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "user_id": str,
    "channel_id": str,
    "at_ms": int,
    "source": str,
    "clock": str,
    "kind": str,
    "online": bool,
    "stream_id": (str, type(None)),
    "alias": (str, type(None)),
    "settings": dict,
    "credit_id": str,
    "bucket_start_s": int,
    "seconds": int,
    "points": int,
    "multiplier": int,
    "closed_at_ms": int,
}


def decode(raw: bytes | str) -> Any:
    """Parse one record and check its field types; raise ``RecordFormatError`` for
    anything malformed (the caller dead-letters it)."""
    try:
        data = orjson.loads(raw)
        cls = _KINDS[data["kind"]]
        record = cls(**data)
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise RecordFormatError(f"undecodable record: {error}") from error
    for name, expected in _FIELD_TYPES.items():
        value = data.get(name, None)
        if name in data and (
            not isinstance(value, expected)
            or (expected is int and isinstance(value, bool))
        ):
            raise RecordFormatError(f"field {name} has type {type(value).__name__}")
    return record
