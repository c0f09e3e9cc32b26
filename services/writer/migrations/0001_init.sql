-- orghub writer schema: bitemporal entity store, append-only registrations, transactional outbox.

CREATE TABLE municipality (
    code          integer PRIMARY KEY,
    name          text    NOT NULL,
    cvr           text    NOT NULL,
    -- The municipality's event-log position. Every writing transaction locks this row first, so
    -- sequences are allocated gap-free and in commit order.
    last_sequence bigint  NOT NULL DEFAULT 0
);

-- The present view of every entity: its latest version and whole valid-time timeline.
CREATE TABLE entity (
    uuid          uuid        PRIMARY KEY,
    kommune       integer     NOT NULL REFERENCES municipality (code),
    kind          text        NOT NULL,
    version       bigint      NOT NULL,
    deleted       boolean     NOT NULL DEFAULT false,
    registered_at timestamptz NOT NULL,
    -- The timeline as JSON (with sensitive attributes; they are stripped on the way out).
    timeline      jsonb       NOT NULL
);
CREATE INDEX entity_by_kommune_kind ON entity (kommune, kind, uuid);

-- Transaction time: every registration, never overwritten.
CREATE TABLE registration (
    uuid          uuid        NOT NULL REFERENCES entity (uuid),
    version       bigint      NOT NULL,
    action        text        NOT NULL,
    registered_at timestamptz NOT NULL,
    actor         text        NOT NULL,
    note          text,
    deleted       boolean     NOT NULL,
    timeline      jsonb       NOT NULL,
    PRIMARY KEY (uuid, version)
);

-- Every reference of every live entity's segments, for dependents, root and cycle checks.
-- `target` NULL is a unit's "no parent" (a root).
CREATE TABLE reference (
    source        uuid    NOT NULL REFERENCES entity (uuid),
    kommune       integer NOT NULL,
    source_kind   text    NOT NULL,
    field         text    NOT NULL,
    target        uuid,
    valid_from    date    NOT NULL,
    valid_to      date
);
CREATE INDEX reference_by_source ON reference (source);
CREATE INDEX reference_by_target ON reference (target) WHERE target IS NOT NULL;
CREATE INDEX reference_roots ON reference (kommune) WHERE target IS NULL;

-- The transactional outbox and event log: one row per event, written with its change.
CREATE TABLE event (
    kommune        integer     NOT NULL REFERENCES municipality (code),
    sequence       bigint      NOT NULL,
    id             uuid        NOT NULL UNIQUE,
    entity         uuid        NOT NULL,
    entity_version bigint      NOT NULL,
    type           text        NOT NULL,
    routing_key    text        NOT NULL,
    -- The structured-mode CloudEvent, byte for byte as it is published.
    body           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    -- false: the broker had no queue bound for it (still in the log, reachable by replay).
    routed         boolean,
    PRIMARY KEY (kommune, sequence),
    UNIQUE (entity, entity_version)
);
CREATE INDEX event_unpublished ON event (kommune, sequence) WHERE published_at IS NULL;

CREATE TABLE api_token (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    hash       bytea       NOT NULL UNIQUE,
    scopes     text[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE idempotency_key (
    kommune      integer     NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kommune, key)
);
