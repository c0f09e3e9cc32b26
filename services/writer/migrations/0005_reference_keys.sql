-- Integrity rules beside references (DESIGN §2, issue #12): one root per municipality and
-- hierarchy, one primary engagement per person on any date, a class's user_key unique within
-- its facet. Each is a `reference` row without a target whose `key` says what must be unique:
--   field '/parent'   key = the hierarchy class's uuid, '' for the line organisation (a root)
--   field '/primary'  key = the person's uuid (a primary engagement's segment)
--   field '/user_key' key = '<facet>:<user_key>' (a class's segment)
-- so each rule is one lookup on `reference_keys` per written segment.
ALTER TABLE reference ADD COLUMN key text;

-- Roots written before: their hierarchy, from the segment they were written for.
UPDATE reference r
SET key = COALESCE(s.seg ->> 'hierarchy', '')
FROM entity e, jsonb_array_elements(e.timeline) AS s(seg)
WHERE r.target IS NULL AND r.field = '/parent' AND e.uuid = r.source
  AND (s.seg -> 'validity' ->> 'from')::date = r.valid_from;
UPDATE reference SET key = '' WHERE target IS NULL AND field = '/parent' AND key IS NULL;

INSERT INTO reference (source, kommune, source_kind, field, target, valid_from, valid_to, key)
SELECT e.uuid, e.kommune, e.kind, '/primary', NULL,
       (s.seg -> 'validity' ->> 'from')::date, (s.seg -> 'validity' ->> 'to')::date,
       s.seg ->> 'person'
FROM entity e, jsonb_array_elements(e.timeline) AS s(seg)
WHERE e.kind = 'engagement' AND NOT e.deleted AND (s.seg ->> 'primary')::boolean;

INSERT INTO reference (source, kommune, source_kind, field, target, valid_from, valid_to, key)
SELECT e.uuid, e.kommune, e.kind, '/user_key', NULL,
       (s.seg -> 'validity' ->> 'from')::date, (s.seg -> 'validity' ->> 'to')::date,
       (s.seg ->> 'facet') || ':' || (s.seg ->> 'user_key')
FROM entity e, jsonb_array_elements(e.timeline) AS s(seg)
WHERE e.kind = 'class' AND NOT e.deleted;

DROP INDEX reference_roots;
CREATE INDEX reference_keys ON reference (kommune, field, key) WHERE target IS NULL;
