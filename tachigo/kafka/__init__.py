"""Kafka plumbing shared by the API, the worker and the replay: the wire format of our
topics (``records``), their creation (``topics``) and a durable producer
(``producer``)."""
