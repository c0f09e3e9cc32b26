//! The cache schema (idempotent DDL, run at start under an advisory lock) and the statements the
//! sink runs. Every statement names the configured schema, which [`PostgresConfig`] has checked
//! to be a plain identifier.
//!
//! Why not sqlx migrations: they keep their bookkeeping in `_sqlx_migrations` of the connection's
//! default schema, which in a fagsystem's database may already belong to the fagsystem's own
//! migrations. `CREATE ... IF NOT EXISTS` and `CREATE OR REPLACE VIEW` stay inside our schema.
//!
//! [`PostgresConfig`]: super::PostgresConfig

/// The version of the views' layout. Raise it when a view changes a column's name, type or
/// position: `CREATE OR REPLACE VIEW` can only append columns, so a cache created by an older
/// subscriber gets its views dropped and recreated once (in the same transaction, so queries never
/// see them missing). A fagsystem view built on ours then makes the start fail with PostgreSQL's
/// "other objects depend on it", which is the operator's cue, rather than a silent mismatch.
/// 2: class references as uuids with `*_title` columns; `classes`, `groups`, `associations`.
const LAYOUT: i32 = 2;

/// The DDL script: schema, table, index, the `today()` and `to_uuid()` functions and the views.
pub fn ddl(s: &str) -> String {
    let views = views(s);
    let names: Vec<String> = views
        .iter()
        .map(|(view, _, _)| format!("{s}.{view}"))
        .collect();
    let names = names.join(", ");
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
CREATE TABLE IF NOT EXISTS {s}.cache_layout (version integer NOT NULL);
COMMENT ON TABLE {s}.cache_layout IS 'orghub cache: the layout version of the views, for the subscriber''s upgrades.';
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM {s}.cache_layout WHERE version = {LAYOUT}) THEN
        DROP VIEW IF EXISTS {names};
        DELETE FROM {s}.cache_layout;
        INSERT INTO {s}.cache_layout (version) VALUES ({LAYOUT});
    END IF;
END $$;
CREATE OR REPLACE FUNCTION {s}.today() RETURNS date LANGUAGE sql STABLE
    AS $$ SELECT (now() AT TIME ZONE 'Europe/Copenhagen')::date $$;
CREATE OR REPLACE FUNCTION {s}.to_uuid(text) RETURNS uuid LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN $1 ~* '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$'
                      THEN $1::uuid END $$;
COMMENT ON FUNCTION {s}.to_uuid(text) IS 'orghub cache: a class reference as uuid, null for anything else (a label cached before class references), so one odd document never breaks a view.';
CREATE OR REPLACE VIEW {s}.entities AS
    SELECT uuid, kommune, kind, version, document, updated_at FROM {s}.entity WHERE NOT deleted;
"
    );
    for (view, kind, columns) in &views {
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

/// A class reference of the segment `cur.s`: the uuid column `<field>`.
fn class_ref(s: &str, field: &str) -> String {
    format!("{s}.to_uuid(cur.s->>'{field}') AS {field}")
}

/// The title, today, of the class whose uuid is the SQL expression `uuid`.
fn title_of(s: &str, uuid: &str) -> String {
    format!("(SELECT k.title FROM {s}.classes k WHERE k.uuid = {uuid})")
}

/// A class reference and its title today: the columns `<field>` and `<field>_title`. The title
/// is looked up in the `classes` view when the view is queried, so a renamed class shows in
/// every referencing row without an event of the referencing entity.
fn class_column(s: &str, field: &str) -> String {
    let title = title_of(s, &format!("{s}.to_uuid(cur.s->>'{field}')"));
    format!("{}, {title} AS {field}_title", class_ref(s, field))
}

/// A list of class references and their titles today, in the document's order: the columns
/// `<field>` (uuid[]) and `<titles>` (text[], null where a class is not valid today).
fn class_list_columns(s: &str, field: &str, titles: &str) -> String {
    let elements = format!(
        "jsonb_array_elements_text(coalesce(cur.s->'{field}', '[]')) WITH ORDINALITY AS r(v, i)"
    );
    let title = title_of(s, &format!("{s}.to_uuid(r.v)"));
    format!(
        "ARRAY(SELECT {s}.to_uuid(r.v) FROM {elements} ORDER BY r.i) AS {field}, \
         ARRAY(SELECT {title} FROM {elements} ORDER BY r.i) AS {titles}"
    )
}

/// Per kind: view name, kind word, and the typed columns of the segment `cur.s`. `classes` comes
/// first: the others look titles up in it. Columns are named as the attributes, except SQL's
/// reserved words: `primary` is `is_primary`, `group` is `group_uuid`.
fn views(s: &str) -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "classes",
            "class",
            "cur.s->>'facet' AS facet, cur.s->>'user_key' AS user_key, \
             cur.s->>'title' AS title, (cur.s->>'parent')::uuid AS parent"
                .to_owned(),
        ),
        (
            "units",
            "unit",
            format!(
                "cur.s->>'name' AS name, cur.s->>'user_key' AS user_key, {}, {}, {}, \
                 (cur.s->>'parent')::uuid AS parent",
                class_column(s, "unit_type"),
                class_column(s, "unit_level"),
                class_column(s, "hierarchy"),
            ),
        ),
        (
            "persons",
            "person",
            "cur.s->>'given_name' AS given_name, cur.s->>'surname' AS surname, \
             cur.s->>'user_key' AS user_key"
                .to_owned(),
        ),
        (
            "engagements",
            "engagement",
            format!(
                "(cur.s->>'person')::uuid AS person, (cur.s->>'unit')::uuid AS unit, {}, {}, \
                 coalesce((cur.s->>'primary')::boolean, false) AS is_primary, \
                 cur.s->>'user_key' AS user_key",
                class_column(s, "job_title"),
                class_column(s, "engagement_type"),
            ),
        ),
        (
            "managers",
            "manager",
            format!(
                "(cur.s->>'unit')::uuid AS unit, (cur.s->>'person')::uuid AS person, {}, {}, {}",
                class_column(s, "manager_type"),
                class_column(s, "manager_level"),
                class_list_columns(s, "responsibilities", "responsibility_titles"),
            ),
        ),
        (
            "addresses",
            "address",
            "cur.s->'owner'->>'kind' AS owner_kind, (cur.s->'owner'->>'uuid')::uuid AS owner_uuid, \
             cur.s->>'address_type' AS address_type, cur.s->>'value' AS value, \
             cur.s->>'visibility' AS visibility"
                .to_owned(),
        ),
        (
            "kle",
            "kle",
            "(cur.s->>'unit')::uuid AS unit, cur.s->>'kle_number' AS kle_number, \
             ARRAY(SELECT jsonb_array_elements_text(coalesce(cur.s->'aspects', '[]'))) AS aspects"
                .to_owned(),
        ),
        (
            "itaccounts",
            "itaccount",
            format!(
                "(cur.s->>'person')::uuid AS person, {}, cur.s->>'user_id' AS user_id, \
                 cur.s->>'external_id' AS external_id, \
                 ARRAY(SELECT r.v::uuid FROM jsonb_array_elements_text(\
                 coalesce(cur.s->'engagements', '[]')) WITH ORDINALITY AS r(v, i) ORDER BY r.i) \
                 AS engagements",
                class_column(s, "it_system"),
            ),
        ),
        (
            "groups",
            "group",
            format!(
                "cur.s->>'name' AS name, cur.s->>'user_key' AS user_key, {}, \
                 (cur.s->>'parent')::uuid AS parent, (cur.s->>'unit')::uuid AS unit",
                class_column(s, "group_type"),
            ),
        ),
        (
            "associations",
            "association",
            format!(
                "(cur.s->>'person')::uuid AS person, (cur.s->>'unit')::uuid AS unit, \
                 (cur.s->>'group')::uuid AS group_uuid, {}, cur.s->>'user_key' AS user_key",
                class_column(s, "association_type"),
            ),
        ),
    ]
}

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
