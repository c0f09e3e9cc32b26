-- Municipalities whose publishing the relay halted: the event at the head of their unpublished log
-- was refused by RabbitMQ (a nack: a queue bound to its routing key refuses messages), is larger
-- than the relay may send, or cannot be read. Only that municipality waits; the relay retries its
-- head with a capped backoff and deletes the row once the broker takes it. The lock-holding relay
-- writes this table, `orghubctl status` reads it; a relay taking the lock over starts from it (it
-- probes each halted head before sending more of that municipality).
CREATE TABLE relay_halt (
    kommune         integer     PRIMARY KEY REFERENCES municipality (code),
    -- The refused event: every event of the municipality before it is published, none after it.
    sequence        bigint      NOT NULL,
    event_id        uuid,
    -- `refused` (nack), `too-large` or `unreadable`: the metric's `reason` label.
    kind            text        NOT NULL,
    -- What an operator reads: the cause and what to look at.
    reason          text        NOT NULL,
    since           timestamptz NOT NULL,
    attempts        integer     NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
