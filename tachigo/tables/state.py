"""Table values and the codec that writes them to the changelog as compact JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from faust.serializers import codecs

from tachigo.rules import ViewerState


@dataclass(slots=True)
class ViewerEntry:
    """A viewer's rule state plus where it lives: its partition and clock."""

    state: ViewerState
    partition: int
    clock: str


class ViewerEntryCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps({"v": obj.state.to_json(), "p": obj.partition, "k": obj.clock})

    def _loads(self, s: bytes) -> Any:
        data = orjson.loads(s)
        return ViewerEntry(ViewerState.from_json(data["v"]), int(data["p"]), str(data["k"]))


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


def register_codecs() -> None:
    codecs.register("tachigo_viewer", ViewerEntryCodec())
    codecs.register("tachigo_json", OrjsonCodec())


def clock_key(partition: int, clock: str) -> str:
    return f"{partition}|clock|{clock}"


def live_key(partition: int, channel_id: str) -> str:
    return f"{partition}|live|{channel_id}"


def settings_key(partition: int, channel_id: str) -> str:
    return f"{partition}|settings|{channel_id}"
