-- Where each ledger consumer is in each Kafka partition, written in the same transaction
-- as the journal rows of that batch. A batch that starts past the stored position means
-- records were skipped on the way in: the worker stops and re-reads them.
CREATE TABLE consumer_positions (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL CHECK (partition >= 0),
    next_offset bigint  NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
