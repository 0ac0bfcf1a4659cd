"""Replay of the real Twitch sessions data set (``tachigo replay``).

Owns turning the data set into a time-ordered stream of heartbeats, stream events,
settings and ticks (``schedule``), the separate calculation of the totals the worker
must credit (``expected``), writing the stream to Kafka (``writer``) and checking the
ledger afterwards (``check``). It depends on ``kafka`` and ``ledger``, never on
``rules``: the replay is the rules' independent check.
"""
