//! The structure part of `orghubctl demo`'s summary, read from the subscriber's PostgreSQL cache:
//! units per hierarchy (line, payroll, MED), groups and associations by type, the members of the
//! largest MED committee, and one unit's engagements with their job titles.
//!
//! Class references are UUIDs; their titles come from joining the class documents in the cache
//! (`orghub_cache.entities`, each document's `current` segment). These are the queries a consumer
//! of the cache writes, printed so the README can show them.

use sqlx::{PgPool, Row as _};

use orghub_contracts::Kommune;

/// The current segment of every live entity of the municipality. Not materialised, so each join
/// on a UUID becomes a primary-key lookup (materialised, the joins took seconds at medium size).
const CURRENT: &str = "WITH cur AS NOT MATERIALIZED (
    SELECT uuid, kind, document->'current' AS s FROM orghub_cache.entities
    WHERE kommune = $1 AND jsonb_typeof(document->'current') = 'object')";

/// Units per hierarchy (by the hierarchy class's title; `null` is the line organisation).
const HIERARCHIES_SQL: &str = "
SELECT coalesce(h.s->>'title', 'Linjeorganisation') AS hierarchy, count(*) AS units
FROM cur u LEFT JOIN cur h ON h.uuid = (u.s->>'hierarchy')::uuid
WHERE u.kind = 'unit' GROUP BY 1 ORDER BY 2 DESC, 1";

/// Groups by group type and associations by association type.
const TYPES_SQL: &str = "
SELECT x.kind, t.s->>'title' AS title, count(*) AS n
FROM cur x JOIN cur t ON t.uuid = (coalesce(x.s->>'group_type', x.s->>'association_type'))::uuid
WHERE x.kind IN ('group', 'association') GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2";

/// The employees of a MED committee: its associations with person and association type.
pub const MED_COMMITTEE_SQL: &str = "
, members AS (
    SELECT c.s->>'name' AS committee, concat_ws(' ', p.s->>'given_name', p.s->>'surname') AS person,
           t.s->>'title' AS role
    FROM cur a
    JOIN cur c ON c.uuid = (a.s->>'unit')::uuid
    JOIN cur h ON h.uuid = (c.s->>'hierarchy')::uuid AND h.s->>'user_key' = 'med-organisation'
    JOIN cur p ON p.uuid = (a.s->>'person')::uuid
    JOIN cur t ON t.uuid = (a.s->>'association_type')::uuid
    WHERE a.kind = 'association')
SELECT committee, person, role FROM members
WHERE committee = (SELECT committee FROM members WHERE committee LIKE 'Lokaludvalg %'
                   GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)
ORDER BY role, person";

/// A unit's engagements with the titles of their job title and engagement type classes (here
/// the line unit with the most engagements below 40, so the list stays readable).
pub const UNIT_ENGAGEMENTS_SQL: &str = "
, staffed AS (
    SELECT (e.s->>'unit')::uuid AS unit, count(*) AS n FROM cur e WHERE e.kind = 'engagement'
    GROUP BY 1 HAVING count(*) < 40 ORDER BY 2 DESC, 1 LIMIT 1)
SELECT u.s->>'name' AS unit, concat_ws(' ', p.s->>'given_name', p.s->>'surname') AS person,
       jt.s->>'title' AS job_title, et.s->>'title' AS engagement_type
FROM cur e
JOIN staffed ON staffed.unit = (e.s->>'unit')::uuid
JOIN cur u ON u.uuid = staffed.unit
JOIN cur p ON p.uuid = (e.s->>'person')::uuid
LEFT JOIN cur jt ON jt.uuid = (e.s->>'job_title')::uuid
LEFT JOIN cur et ON et.uuid = (e.s->>'engagement_type')::uuid
WHERE e.kind = 'engagement'
ORDER BY job_title, person";

async fn rows(
    cache: &PgPool,
    kommune: Kommune,
    sql: &str,
) -> anyhow::Result<Vec<sqlx::postgres::PgRow>> {
    // The statements are constants of this file; only the kommune is bound.
    let sql = format!("{CURRENT}{sql}");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kommune.to_string())
        .fetch_all(cache)
        .await?)
}

fn text(row: &sqlx::postgres::PgRow, column: &str) -> String {
    row.try_get::<Option<String>, _>(column)
        .ok()
        .flatten()
        .unwrap_or_else(|| "-".to_owned())
}

/// Prints the structure summary; a query that fails is reported, not fatal (the demo's verdict
/// is convergence).
pub async fn print(cache: &PgPool, kommune: Kommune) {
    if let Err(e) = try_print(cache, kommune).await {
        println!("  structure         (cannot query the cache: {e:#})");
    }
}

async fn try_print(cache: &PgPool, kommune: Kommune) -> anyhow::Result<()> {
    let hierarchies: Vec<String> = rows(cache, kommune, HIERARCHIES_SQL)
        .await?
        .iter()
        .map(|r| {
            let n: i64 = r.try_get("units").unwrap_or(0);
            format!("{} {n}", text(r, "hierarchy"))
        })
        .collect();
    println!("  units by hierarchy  {}", hierarchies.join(", "));
    let mut groups = Vec::new();
    let mut associations = Vec::new();
    for r in rows(cache, kommune, TYPES_SQL).await? {
        let n: i64 = r.try_get("n").unwrap_or(0);
        let entry = format!("{} {n}", text(&r, "title"));
        if text(&r, "kind") == "group" {
            groups.push(entry);
        } else {
            associations.push(entry);
        }
    }
    println!("  groups              {}", groups.join(", "));
    println!("  associations        {}", associations.join(", "));

    let members = rows(cache, kommune, MED_COMMITTEE_SQL).await?;
    if let Some(first) = members.first() {
        println!(
            "  MED committee       {} ({} members):",
            text(first, "committee"),
            members.len()
        );
        for r in members.iter().take(8) {
            println!("      {:<28} {}", text(r, "role"), text(r, "person"));
        }
        if members.len() > 8 {
            println!("      … and {} more", members.len() - 8);
        }
    }
    let engagements = rows(cache, kommune, UNIT_ENGAGEMENTS_SQL).await?;
    if let Some(first) = engagements.first() {
        println!(
            "  engagements of     {} ({}), with job-title titles:",
            text(first, "unit"),
            engagements.len()
        );
        for r in engagements.iter().take(8) {
            println!(
                "      {:<32} {:<24} {}",
                text(r, "job_title"),
                text(r, "engagement_type"),
                text(r, "person")
            );
        }
        if engagements.len() > 8 {
            println!("      … and {} more", engagements.len() - 8);
        }
    }
    Ok(())
}
