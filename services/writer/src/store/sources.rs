//! Source systems (DESIGN §2 *Source systems*, §3 `sources`): per municipality, what each source
//! owns, as `{"<kind>": "*" | ["field", …]}`. An owned item (a whole kind, or one field of a
//! kind) belongs to one source.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use orghub_contracts::{EntityKind, FieldError, Kommune};
use serde_json::Value;
use sqlx::Row;

use super::{Store, StoreError};

/// Every attribute a state of `kind` may carry.
pub fn fields_of(kind: EntityKind) -> &'static [&'static str] {
    orghub_contracts::with_kind!(kind, T => <T as orghub_contracts::Attributes>::FIELDS)
}

/// What one source owns: per kind, the whole kind (`None`) or some of its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owns(pub BTreeMap<EntityKind, Option<Vec<String>>>);

impl Owns {
    /// Parses and checks `{"<kind>": "*" | ["field", …]}` (kinds by word or path).
    pub fn parse(value: &Value) -> Result<Owns, Vec<FieldError>> {
        let Some(object) = value.as_object() else {
            return Err(vec![FieldError::new(
                "",
                "owns is an object {\"<kind>\": \"*\" or [\"field\", …]}",
            )]);
        };
        let mut errors = Vec::new();
        let mut owns = BTreeMap::new();
        for (key, item) in object {
            let Some(kind) = EntityKind::from_word(key).or_else(|| EntityKind::from_path(key))
            else {
                errors.push(FieldError::new(
                    format!("/{key}"),
                    format!(
                        "unknown kind; expected one of {}",
                        EntityKind::ALL.map(EntityKind::word).join(", ")
                    ),
                ));
                continue;
            };
            match item {
                Value::String(s) if s == "*" => {
                    owns.insert(kind, None);
                }
                Value::Array(fields) if !fields.is_empty() => {
                    let mut names = Vec::new();
                    for (i, f) in fields.iter().enumerate() {
                        match f.as_str() {
                            Some(f) if fields_of(kind).contains(&f) => {
                                if !names.iter().any(|n| n == f) {
                                    names.push(f.to_owned());
                                }
                            }
                            _ => errors.push(FieldError::new(
                                format!("/{key}/{i}"),
                                format!(
                                    "not an attribute of a {kind}; expected one of {}",
                                    fields_of(kind).join(", ")
                                ),
                            )),
                        }
                    }
                    names.sort();
                    owns.insert(kind, Some(names));
                }
                _ => errors.push(FieldError::new(
                    format!("/{key}"),
                    "is \"*\" (the whole kind) or a non-empty array of field names",
                )),
            }
        }
        if errors.is_empty() {
            Ok(Owns(owns))
        } else {
            Err(errors)
        }
    }

    /// The JSON form, kinds by word.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (kind, fields) in &self.0 {
            out.insert(
                kind.word().to_owned(),
                match fields {
                    None => Value::String("*".into()),
                    Some(fs) => Value::from(fs.clone()),
                },
            );
        }
        Value::Object(out)
    }

    /// The first item this and `other` both own, as `kind` or `kind.field`.
    pub fn overlap(&self, other: &Owns) -> Option<String> {
        for (kind, mine) in &self.0 {
            let Some(theirs) = other.0.get(kind) else {
                continue;
            };
            match (mine, theirs) {
                (None, _) | (_, None) => return Some(kind.word().to_owned()),
                (Some(a), Some(b)) => {
                    if let Some(f) = a.iter().find(|f| b.contains(f)) {
                        return Some(format!("{kind}.{f}"));
                    }
                }
            }
        }
        None
    }

    /// Whether this owns `field` of `kind` (the whole kind counts).
    pub fn owns_field(&self, kind: EntityKind, field: &str) -> bool {
        match self.0.get(&kind) {
            Some(None) => true,
            Some(Some(fields)) => fields.iter().any(|f| f == field),
            None => false,
        }
    }

    pub fn owns_wholly(&self, kind: EntityKind) -> bool {
        matches!(self.0.get(&kind), Some(None))
    }
}

/// A declared source as `GET /sources` lists it.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub source: String,
    pub owns: Owns,
    pub updated_at: DateTime<Utc>,
    /// Its last write that changed something.
    pub last_write_at: Option<DateTime<Utc>>,
    pub last_full_import_at: Option<DateTime<Utc>>,
    /// The summary of its last full import.
    pub last_full_import: Option<Value>,
}

/// Every source's declaration in one municipality: what writes by sourced tokens are held to.
#[derive(Debug, Clone, Default)]
pub struct Ownership(pub Vec<SourceRecord>);

impl Ownership {
    /// The source other than `me` that owns `field` of `kind`, if any.
    pub fn other_owner(&self, me: &str, kind: EntityKind, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|s| s.source != me && s.owns.owns_field(kind, field))
            .map(|s| s.source.as_str())
    }

    /// The source other than `me` that owns `kind` wholly, if any.
    pub fn other_whole_owner(&self, me: &str, kind: EntityKind) -> Option<&str> {
        self.0
            .iter()
            .find(|s| s.source != me && s.owns.owns_wholly(kind))
            .map(|s| s.source.as_str())
    }

    /// The kinds `me` owns wholly.
    pub fn kinds_owned_wholly(&self, me: &str) -> Vec<EntityKind> {
        self.0
            .iter()
            .filter(|s| s.source == me)
            .flat_map(|s| {
                s.owns
                    .0
                    .iter()
                    .filter(|(_, f)| f.is_none())
                    .map(|(k, _)| *k)
            })
            .collect()
    }
}

/// Why a declaration was refused: another source owns an item of it.
#[derive(Debug)]
pub struct OwnedElsewhere {
    pub owner: String,
    pub item: String,
}

fn record(row: &sqlx::postgres::PgRow) -> Result<SourceRecord, StoreError> {
    let owns: Value = row.try_get("owns")?;
    Ok(SourceRecord {
        source: row.try_get("source")?,
        owns: Owns::parse(&owns)
            .map_err(|_| StoreError::Corrupt(format!("a source's owns: {owns}")))?,
        updated_at: row.try_get("updated_at")?,
        last_write_at: row.try_get("last_write_at")?,
        last_full_import_at: row.try_get("last_full_import_at")?,
        last_full_import: row.try_get("last_full_import")?,
    })
}

const SELECT: &str = "SELECT source, owns, updated_at, last_write_at, last_full_import_at,
                             last_full_import
                      FROM source_system WHERE kommune = $1 ORDER BY source";

impl Store {
    /// Every declared source of the municipality, by name.
    pub async fn sources(&self, kommune: Kommune) -> Result<Ownership, StoreError> {
        let rows = sqlx::query(SELECT)
            .bind(i32::from(kommune.code()))
            .fetch_all(&self.pool)
            .await?;
        Ok(Ownership(
            rows.iter().map(record).collect::<Result<_, _>>()?,
        ))
    }

    /// Declares what `source` owns in the municipality (replacing its earlier declaration);
    /// refused when another source owns an item of it. `Ok(true)`: the source is new.
    pub async fn put_source(
        &self,
        kommune: Kommune,
        source: &str,
        owns: &Owns,
    ) -> Result<Result<bool, OwnedElsewhere>, StoreError> {
        let code = i32::from(kommune.code());
        let mut tx = self.pool.begin().await?;
        // Declarations of one municipality one at a time, so two cannot both take an item.
        sqlx::query("SELECT pg_advisory_xact_lock(7007, $1)")
            .bind(code)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(SELECT).bind(code).fetch_all(&mut *tx).await?;
        let mut new = true;
        for row in &rows {
            let other = record(row)?;
            if other.source == source {
                new = false;
                continue;
            }
            if let Some(item) = owns.overlap(&other.owns) {
                return Ok(Err(OwnedElsewhere {
                    owner: other.source,
                    item,
                }));
            }
        }
        sqlx::query(
            "INSERT INTO source_system (kommune, source, owns) VALUES ($1, $2, $3)
             ON CONFLICT (kommune, source) DO UPDATE SET owns = EXCLUDED.owns, updated_at = now()",
        )
        .bind(code)
        .bind(source)
        .bind(owns.to_json())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(new))
    }
}

impl Store {
    /// Notes that `source` changed something in the municipality now.
    pub async fn source_wrote(&self, kommune: Kommune, source: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_system (kommune, source, owns, last_write_at)
             VALUES ($1, $2, '{}', now())
             ON CONFLICT (kommune, source) DO UPDATE SET last_write_at = now()",
        )
        .bind(i32::from(kommune.code()))
        .bind(source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Notes that `source` finished a full import now, with its summary.
    pub async fn source_imported(
        &self,
        kommune: Kommune,
        source: &str,
        summary: Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO source_system (kommune, source, owns, last_full_import_at, last_full_import)
             VALUES ($1, $2, '{}', now(), $3)
             ON CONFLICT (kommune, source) DO UPDATE
                SET last_full_import_at = now(), last_full_import = EXCLUDED.last_full_import",
        )
        .bind(i32::from(kommune.code()))
        .bind(source)
        .bind(summary)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declarations_parse_and_overlap_by_kind_or_field() {
        let sd =
            Owns::parse(&json!({"person": ["given_name", "surname", "cpr"], "engagements": "*"}))
                .expect("valid");
        let ad = Owns::parse(&json!({"itaccount": "*", "person": ["user_key"]})).expect("valid");
        assert_eq!(sd.overlap(&ad), None);
        assert!(sd.owns_wholly(EntityKind::Engagement) && sd.owns_field(EntityKind::Person, "cpr"));
        let greedy = Owns::parse(&json!({"person": "*"})).expect("valid");
        assert_eq!(sd.overlap(&greedy).as_deref(), Some("person"));
        let cpr = Owns::parse(&json!({"person": ["cpr"]})).expect("valid");
        assert_eq!(cpr.overlap(&sd).as_deref(), Some("person.cpr"));
        assert!(Owns::parse(&json!({"person": ["shoe_size"]})).is_err());
        assert!(Owns::parse(&json!({"planet": "*"})).is_err());
        assert!(Owns::parse(&json!({"person": []})).is_err());
        assert_eq!(Owns::parse(&sd.to_json()).expect("round trip"), sd);
    }
}
