//! `Kommune`: one of the 98 Danish municipalities, by its kommunekode.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The 98 municipalities, carried into the crate as data (a test keeps it equal to
/// `shared/data/municipalities.csv`).
pub const MUNICIPALITIES_CSV: &str = include_str!("municipalities.csv");

/// One row of the municipality table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    pub code: u16,
    pub name: String,
    pub cvr: String,
}

static TABLE: LazyLock<Vec<Municipality>> = LazyLock::new(|| {
    let mut rows: Vec<Municipality> = MUNICIPALITIES_CSV
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut cols = line.trim().splitn(3, ',');
            let (code, name, cvr) = (cols.next(), cols.next(), cols.next());
            match (code.and_then(|c| c.parse().ok()), name, cvr) {
                (Some(code), Some(name), Some(cvr)) => Municipality {
                    code,
                    name: name.to_owned(),
                    cvr: cvr.to_owned(),
                },
                // The file is compiled in and checked by a unit test; a bad row is a build defect.
                _ => panic!("malformed row in municipalities.csv: {line:?}"),
            }
        })
        .collect();
    rows.sort_by_key(|m| m.code);
    rows
});

/// A municipality, identified by its 3-digit kommunekode (ORG's Myndighedskode).
///
/// Parsing accepts `101` and `0101` and normalises to `101`; only the 98 real codes parse.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kommune(u16);

/// Why a string is not a kommunekode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KommuneError {
    #[error("kommunekode {0:?} must be 3 digits (or 4 with a leading zero)")]
    Malformed(String),
    #[error("kommunekode {0:?} is not one of the 98 Danish municipalities")]
    Unknown(String),
}

impl Kommune {
    /// Parses `101`, `0101` (normalised to `101`) or `751`.
    pub fn parse(input: &str) -> Result<Self, KommuneError> {
        let digits = match input.len() {
            3 => input,
            4 if input.starts_with('0') => &input[1..],
            _ => return Err(KommuneError::Malformed(input.to_owned())),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KommuneError::Malformed(input.to_owned()));
        }
        let code: u16 = digits
            .parse()
            .map_err(|_| KommuneError::Malformed(input.to_owned()))?;
        Self::from_code(code).ok_or_else(|| KommuneError::Unknown(input.to_owned()))
    }

    /// The municipality with this numeric code, if it is one of the 98.
    pub fn from_code(code: u16) -> Option<Self> {
        TABLE
            .binary_search_by_key(&code, |m| m.code)
            .ok()
            .map(|_| Kommune(code))
    }

    /// All 98 municipalities, ordered by code.
    pub fn all() -> impl Iterator<Item = Kommune> {
        TABLE.iter().map(|m| Kommune(m.code))
    }

    pub fn code(self) -> u16 {
        self.0
    }

    fn row(self) -> &'static Municipality {
        let i = TABLE
            .binary_search_by_key(&self.0, |m| m.code)
            .unwrap_or_else(|_| unreachable!("a Kommune is only built from a table code"));
        &TABLE[i]
    }

    /// The municipality's name, e.g. `Aarhus`.
    pub fn name(self) -> &'static str {
        &self.row().name
    }

    /// The municipality's CVR number (8 digits).
    pub fn cvr(self) -> &'static str {
        &self.row().cvr
    }
}

impl fmt::Display for Kommune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl fmt::Debug for Kommune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kommune({:03})", self.0)
    }
}

impl FromStr for Kommune {
    type Err = KommuneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Kommune {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Kommune {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Kommune::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Kommune {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Kommune".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{3}$",
            "description": "Kommunekode (ORG Myndighedskode), 3 digits, e.g. 751 for Aarhus."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_table_equals_the_shared_file() {
        let shared = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/municipalities.csv"
        ));
        // The shared folder sits beside the checkout; CI lays it there too.
        let shared = shared.expect("../shared/data/municipalities.csv is readable");
        assert_eq!(MUNICIPALITIES_CSV.trim_end(), shared.trim_end());
        assert_eq!(Kommune::all().count(), 98);
    }

    #[test]
    fn parses_and_normalises_codes() {
        assert_eq!(
            Kommune::parse("751").map(|k| k.to_string()),
            Ok("751".into())
        );
        assert_eq!(
            Kommune::parse("0101").map(|k| k.to_string()),
            Ok("101".into())
        );
        let aarhus = Kommune::parse("751").expect("Aarhus");
        assert_eq!(aarhus.name(), "Aarhus");
        assert_eq!(aarhus.cvr().len(), 8);
    }

    #[test]
    fn rejects_unknown_and_malformed_codes() {
        assert_eq!(
            Kommune::parse("999"),
            Err(KommuneError::Unknown("999".into()))
        );
        assert_eq!(
            Kommune::parse("0751x"),
            Err(KommuneError::Malformed("0751x".into()))
        );
        assert_eq!(
            Kommune::parse("75"),
            Err(KommuneError::Malformed("75".into()))
        );
        assert_eq!(
            Kommune::parse("1751"),
            Err(KommuneError::Malformed("1751".into()))
        );
        assert_eq!(
            Kommune::parse("-75"),
            Err(KommuneError::Malformed("-75".into()))
        );
    }
}
