-- Bounds on the write side (DESIGN §2 Limits, §3).

-- Idempotency keys belong to the token that made them and expire after 24 hours. `scope` is the
-- SHA-256 of the caller's identity and the key, so one token never gets another's answer. Keys
-- stored before were neither scoped nor dated usefully; they are dropped with the old table.
DROP TABLE idempotency_key;
CREATE TABLE idempotency_key (
    kommune      integer     NOT NULL,
    scope        bytea       NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kommune, scope)
);
CREATE INDEX idempotency_key_expiry ON idempotency_key (kommune, created_at);

-- The UUIDs a running full import's file named, so that the import needs no memory per line.
-- Unlogged: it only lives as long as its import; rows of an import that never finished are
-- cleared by a later one.
CREATE UNLOGGED TABLE import_seen (
    import uuid NOT NULL,
    uuid   uuid NOT NULL,
    PRIMARY KEY (import, uuid)
);
