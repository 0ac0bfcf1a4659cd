"""Errors of the replay: bad data files, names and options."""

from __future__ import annotations

from tachigo.errors import TachigoError


class ReplayError(TachigoError):
    """The replay cannot start: its data, name or options are unusable."""

    code = "replay_failed"
    status = 400
