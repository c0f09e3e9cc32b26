-- Source systems (DESIGN §2 *Source systems*, §3 `sources`): a token may carry a source label,
-- every registration records the source of its writer, and per municipality each source
-- declares what it owns: `owns` is `{"<kind>": "*" | ["field", ...]}`, an owned item belonging
-- to one source (checked by the writer under an advisory lock per municipality).
ALTER TABLE api_token ADD COLUMN source text;
ALTER TABLE registration ADD COLUMN source text;
-- The event's `origin` extension (DESIGN §4), beside its body like the other attributes the relay
-- publishes as headers.
ALTER TABLE event ADD COLUMN origin text;

CREATE TABLE source_system (
    kommune    integer     NOT NULL REFERENCES municipality (code),
    source     text        NOT NULL,
    owns       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- What the source did last (a source that writes without a declaration gets a row owning
    -- nothing): its last changing write, and its last full import with the import's summary.
    last_write_at       timestamptz,
    last_full_import_at timestamptz,
    last_full_import    jsonb,
    PRIMARY KEY (kommune, source)
);
