"""Errors of the worker's agents."""

from __future__ import annotations


class OffsetGapError(Exception):
    """Records of a partition were skipped before reaching the agent.

    faust can drop fetched records of a partition that is not yet active during a
    rebalance and then commit past them (faust-streaming #606). The agent checks that
    each partition's offsets continue where it left off; on a gap the worker exits
    without committing, and the restarted worker re-reads from the committed offset.
    """

    def __init__(self, topic: str, partition: int, *, expected: int, got: int) -> None:
        super().__init__(
            f"{topic}[{partition}]: expected offset {expected}, got {got}; "
            "records were skipped, restarting to re-read them"
        )
        self.topic, self.partition, self.expected, self.got = (
            topic,
            partition,
            expected,
            got,
        )
