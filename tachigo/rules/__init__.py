"""Pure watch-verification and crediting rules (DESIGN section 4).

No I/O, no clock, no imports from the rest of tachigo: the worker feeds heartbeats,
ticks and channel facts in, and gets the new viewer state, an outcome and the credits
out. Replaying the same inputs therefore always yields the same credits.
"""

from tachigo.rules.watch import (
    REJECTION_REASONS,
    ChannelFacts,
    ChannelSettings,
    CreditDraft,
    Outcome,
    ViewerState,
    WatchLimits,
    credit_id,
    judge_heartbeat,
    sweep_viewer,
)

__all__ = [
    "REJECTION_REASONS",
    "ChannelFacts",
    "ChannelSettings",
    "CreditDraft",
    "Outcome",
    "ViewerState",
    "WatchLimits",
    "credit_id",
    "judge_heartbeat",
    "sweep_viewer",
]
