//! The cache schema (idempotent DDL, run at start under an advisory lock) and the statements the
//! sink runs. Every statement names the configured schema, which [`PostgresConfig`] has checked
//! to be a plain identifier.
//!
//! Why not sqlx migrations: they keep their bookkeeping in `_sqlx_migrations` of the connection's
//! default schema, which in a fagsystem's database may already belong to the fagsystem's own
//! migrations. `CREATE ... IF NOT EXISTS` and `CREATE OR REPLACE VIEW` stay inside our schema.
//!
//! [`PostgresConfig`]: super::PostgresConfig

/// The DDL script: schema, table, index, the `today()` function and the views.
pub fn ddl(s: &str) -> String {
    let mut script = format!(
        "SELECT pg_advisory_xact_lock(hashtext('orghub-subscriber cache schema {s}'));
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.entity (
    uuid uuid PRIMARY KEY,
    kommune text NOT NULL,
    kind text NOT NULL,
    version bigint NOT NULL,
    sequence bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    document jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {s}.entity IS 'orghub cache: one row per entity ever seen, deleted ones kept as tombstones (deleted = true) so older events cannot resurrect them. Query the views instead.';
CREATE INDEX IF NOT EXISTS entity_kommune_kind ON {s}.entity (kommune, kind);
CREATE OR REPLACE FUNCTION {s}.today() RETURNS date LANGUAGE sql STABLE
    AS $$ SELECT (now() AT TIME ZONE 'Europe/Copenhagen')::date $$;
CREATE OR REPLACE VIEW {s}.entities AS
    SELECT uuid, kommune, kind, version, document, updated_at FROM {s}.entity WHERE NOT deleted;
"
    );
    for (view, kind, columns) in VIEWS {
        script.push_str(&format!(
            "CREATE OR REPLACE VIEW {s}.{view} AS
    SELECT e.uuid, e.kommune, e.version, {columns},
           (cur.s->'validity'->>'from')::date AS valid_from,
           (cur.s->'validity'->>'to')::date AS valid_to,
           e.updated_at
    FROM {s}.entity e
    CROSS JOIN LATERAL (
        SELECT t.seg AS s FROM jsonb_array_elements(e.document->'timeline') AS t(seg)
        WHERE (t.seg->'validity'->>'from')::date <= {s}.today()
          AND coalesce((t.seg->'validity'->>'to')::date > {s}.today(), true)
        LIMIT 1
    ) cur
    WHERE e.kind = '{kind}' AND NOT e.deleted;
"
        ));
    }
    script
}

/// Per kind: view name, kind word, and the typed columns of the segment `cur.s`.
const VIEWS: [(&str, &str, &str); 7] = [
    (
        "units",
        "unit",
        "cur.s->>'name' AS name, cur.s->>'user_key' AS user_key, \
         cur.s->>'unit_type' AS unit_type, (cur.s->>'parent')::uuid AS parent",
    ),
    (
        "persons",
        "person",
        "cur.s->>'given_name' AS given_name, cur.s->>'surname' AS surname, \
         cur.s->>'user_key' AS user_key",
    ),
    (
        "engagements",
        "engagement",
        "(cur.s->>'person')::uuid AS person, (cur.s->>'unit')::uuid AS unit, \
         cur.s->>'job_title' AS job_title, cur.s->>'engagement_type' AS engagement_type, \
         coalesce((cur.s->>'primary')::boolean, false) AS is_primary, \
         cur.s->>'user_key' AS user_key",
    ),
    (
        "managers",
        "manager",
        "(cur.s->>'unit')::uuid AS unit, (cur.s->>'person')::uuid AS person, \
         cur.s->>'manager_type' AS manager_type, cur.s->>'manager_level' AS manager_level, \
         ARRAY(SELECT jsonb_array_elements_text(coalesce(cur.s->'responsibilities', '[]'))) \
         AS responsibilities",
    ),
    (
        "addresses",
        "address",
        "cur.s->'owner'->>'kind' AS owner_kind, (cur.s->'owner'->>'uuid')::uuid AS owner_uuid, \
         cur.s->>'address_type' AS address_type, cur.s->>'value' AS value, \
         cur.s->>'visibility' AS visibility",
    ),
    (
        "kle",
        "kle",
        "(cur.s->>'unit')::uuid AS unit, cur.s->>'kle_number' AS kle_number, \
         ARRAY(SELECT jsonb_array_elements_text(coalesce(cur.s->'aspects', '[]'))) AS aspects",
    ),
    (
        "itaccounts",
        "itaccount",
        "(cur.s->>'person')::uuid AS person, cur.s->>'it_system' AS it_system, \
         cur.s->>'user_id' AS user_id, cur.s->>'external_id' AS external_id",
    ),
];

/// The batched, version-guarded upsert. Binds: uuid[], kommune text[], kind text[], version
/// int8[], sequence int8[], deleted bool[], document text[]. Returns the uuids it wrote.
pub fn upsert(s: &str) -> String {
    format!(
        "INSERT INTO {s}.entity AS c (uuid, kommune, kind, version, sequence, deleted, document, updated_at)
         SELECT u.uuid, u.kommune, u.kind, u.version, u.sequence, u.deleted, u.document::jsonb, now()
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::bool[], $7::text[])
              AS u(uuid, kommune, kind, version, sequence, deleted, document)
         ON CONFLICT (uuid) DO UPDATE SET
             kommune = EXCLUDED.kommune, kind = EXCLUDED.kind, version = EXCLUDED.version,
             sequence = EXCLUDED.sequence, deleted = EXCLUDED.deleted,
             document = EXCLUDED.document, updated_at = EXCLUDED.updated_at
         WHERE c.version < EXCLUDED.version
         RETURNING c.uuid"
    )
}

/// Whether anything (tombstones included) is held of a municipality. Binds: kommune.
pub fn holds_kommune(s: &str) -> String {
    format!("SELECT EXISTS (SELECT 1 FROM {s}.entity WHERE kommune = $1)")
}

/// Tombstones the scope's live rows a complete snapshot did not have, learned at or before its
/// watermark; the version goes up by one, which is at most the writer's deletion version.
/// Binds: kommune, kinds text[], watermark, present uuid[].
pub fn prune(s: &str) -> String {
    format!(
        "UPDATE {s}.entity e
         SET deleted = true, version = e.version + 1, updated_at = now(),
             document = jsonb_set(jsonb_set(e.document, '{{deleted}}', 'true'),
                                  '{{version}}', to_jsonb(e.version + 1))
         WHERE e.kommune = $1 AND e.kind = ANY($2::text[]) AND NOT e.deleted AND e.sequence <= $3
           AND NOT EXISTS (SELECT 1 FROM unnest($4::uuid[]) AS p(uuid) WHERE p.uuid = e.uuid)"
    )
}
