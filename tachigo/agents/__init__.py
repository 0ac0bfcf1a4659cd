"""The Faust worker: the watch agent (heartbeats -> verified credits) and the ledger
agent (credits -> one Postgres transaction per batch). One module per flow; ``app``
wires them."""
