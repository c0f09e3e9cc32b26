-- Midnight transitions (DESIGN §4 *Midnight*): just after each midnight Europe/Copenhagen, every
-- entity whose current segment changed without a write gets one `effective` or `expired` event.

-- The segment boundaries of a timeline, as keys `kommune * 1000000 + days since 2000-01-01` (one
-- per `from` and `to` date from 2000-01-01 on): the dates at whose midnight the entity's current
-- segment may change. Keyed by municipality so that one GIN lookup finds one municipality's
-- candidates for a day without reading anyone else's. Dates are read with make_date
-- (immutable), not a text cast (which depends on DateStyle); stored dates are always
-- YYYY-MM-DD (a year past 9999 is longer and left out). Kept cheap, it runs for every entity
-- written: no DISTINCT (GIN drops duplicate keys itself), no regular expression.
CREATE FUNCTION midnight_keys(kommune integer, timeline jsonb) RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(kommune::bigint * 1000000
               + (make_date(substr(d, 1, 4)::int, substr(d, 6, 2)::int, substr(d, 9, 2)::int)
                  - DATE '2000-01-01')), '{}')
    FROM jsonb_array_elements(CASE jsonb_typeof(timeline) WHEN 'array' THEN timeline
                                   ELSE '[]'::jsonb END) AS s(seg),
         LATERAL (VALUES (seg #>> '{validity,from}'), (seg #>> '{validity,to}')) AS v(d)
    WHERE length(d) = 10 AND d >= '2000-01-01' AND d < '4700-01-01'
$$;

-- Finding a day's candidates is one index lookup per municipality, not a scan of every entity.
CREATE INDEX entity_midnight_keys ON entity USING gin (midnight_keys(kommune, timeline))
    WHERE NOT deleted;

-- Exactly once per entity and date, whatever runs it (several writers, restarts, a day run
-- again): the transition's event is written only with a row here, in the same transaction.
-- Rows older than a few weeks are pruned; no writer goes back that far.
CREATE TABLE midnight_transition (
    entity uuid    NOT NULL REFERENCES entity (uuid),
    day    date    NOT NULL,
    kommune integer NOT NULL,
    -- The event's entity version.
    version bigint NOT NULL,
    PRIMARY KEY (entity, day)
);
CREATE INDEX midnight_transition_by_day ON midnight_transition (day);

-- The midnights whose transitions are all written (every municipality). A writer starting
-- catches up from the last one; the first start of all records its own day without writing.
CREATE TABLE midnight_day (
    day          date        PRIMARY KEY,
    completed_at timestamptz NOT NULL DEFAULT now(),
    -- Transitions written for this day (by the run that completed it, and any before it).
    transitions  bigint      NOT NULL DEFAULT 0
);
