"""tachigo: a watch-to-earn loyalty engine (heartbeats -> Kafka -> Faust ->
PostgreSQL).
"""

__version__ = "0.1.0"
