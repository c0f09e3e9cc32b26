-- The relay's position per municipality instead of a mark on every event row.
--
-- The relay publishes each municipality's events in sequence order and only moves on once the
-- broker confirmed them, so "published" is a prefix of each municipality's log: one number per
-- municipality says it. One small upsert per batch replaces an update of every ~1 KB event row
-- (which could not be HOT, left dead tuples in the event heap and a partial index to walk), and
-- the backlog is `municipality.last_sequence - published_through`, read without counting rows.
-- A table of its own, not a column of `municipality`: every writing transaction holds that row
-- locked, and the relay must never wait for a writer.
CREATE TABLE relay_position (
    kommune           integer     PRIMARY KEY REFERENCES municipality (code),
    -- Every event of the municipality with sequence <= this was confirmed by the broker.
    published_through bigint      NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The published prefix of each municipality so far.
INSERT INTO relay_position (kommune, published_through)
SELECT kommune, coalesce(min(sequence) FILTER (WHERE published_at IS NULL) - 1, max(sequence))
FROM event GROUP BY kommune;

DROP INDEX event_unpublished;
ALTER TABLE event DROP COLUMN published_at, DROP COLUMN routed;

-- What the relay needs besides the stored columns to build an event's AMQP properties and ce-*
-- headers without reading its body (re-reading every body was a third of the relay's CPU).
-- NULL for events written before this migration: the relay reads their bodies.
ALTER TABLE event ADD COLUMN event_time timestamptz, ADD COLUMN traceparent text;
