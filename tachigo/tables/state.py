"""Table values (stored as JSON objects, as faust's json codec writes them) and keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tachigo.rules import ViewerState


@dataclass(slots=True)
class ViewerEntry:
    """A viewer's rule state plus where it lives: its partition and clock."""

    state: ViewerState
    partition: int
    clock: str

    def to_json(self) -> dict[str, Any]:
        return {"v": self.state.to_json(), "p": self.partition, "k": self.clock}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewerEntry:
        return cls(ViewerState.from_json(data["v"]), int(data["p"]), str(data["k"]))


def live_key(partition: int, channel_id: str) -> str:
    return f"{partition}|live|{channel_id}"


def settings_key(partition: int, channel_id: str) -> str:
    return f"{partition}|settings|{channel_id}"


def next_offset_key(partition: int) -> str:
    """The next heartbeats offset this partition's state has absorbed."""
    return f"{partition}|next_offset"
