//! orghub-generator: deterministic, realistic Danish municipal organisations and day-to-day
//! change streams against them, as import lines and change operations the writer accepts. For
//! demos (`orghubctl generate`), black-box tests and benchmarks.
//!
//! ```
//! use orghub_generator::{Options, Size, organisation};
//!
//! let opts = Options { kommune: "825".parse()?, size: Size::Small, seed: 1 };
//! let first = organisation(&opts).next().expect("a root unit");
//! assert_eq!(first.state["name"], "Læsø Kommune");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it makes
//!
//! A root unit (`<Name> Kommune`; `Københavns Kommune`, `Bornholms Regionskommune`) with
//! Borgmesterens Afdeling and the forvaltninger Børn og Unge, Sundhed og Omsorg, Teknik og Miljø,
//! Kultur og Borgerservice, Beskæftigelse and Sociale Forhold; below them afdelinger, centre and
//! områder, and institutions with realistic names (`Skovvangskolen`, `Børnehuset Solsikken`,
//! `Plejecenter Lindehuset`, `Jobcenter Aarhus`, `Hovedbiblioteket`, `Tandklinik …`), in the large
//! size with teams, wards and school departments below them. Every unit is valid from 1 January
//! 2007 (the structural reform), has a manager function (about 3.5 % vacant below the
//! forvaltninger), KLE numbers with aspects (17 for schools, 28 for day care, 27 and 29 for care,
//! 15 and 32 for the jobcentre, 00 for the top …), an e-mail address and usually a `+45 8…`
//! phone number; institutions an EAN number with a valid check digit and often a P-number.
//!
//! Staff are drawn per unit from its profile (`profiles.rs`): teachers and pædagoger in schools,
//! social- og sundhedsassistenter and -hjælpere in plejecentre, socialrådgivere in family
//! counselling, and so on, each with a leader of the right title. People have Danish names drawn
//! by frequency, an employee number as `user_key`, in 30 % a made-up CPR number (valid date,
//! serial 9xxx, failing the pre-2007 modulus-11 check, so no real person's), an e-mail address
//! `given.surname<n>@<kommune>.dk` (æ→ae, ø→oe, å→aa), often a phone number, an Active Directory
//! account (`anje01`) and, depending on their work, an OPUS, KMD Nexus, KMD Momentum, Aula …
//! account. Engagements are "Månedslønnet, fuldtid/deltid", "Timelønnet" or "Elev", started on
//! the 1st of a month between 2007 and August 2026, some (trainees, temporary staff) ending
//! between 2027 and 2029; about 4 % of people have a second, hourly engagement elsewhere.
//!
//! # Sizes (seed 1, Læsø 825 / Aarhus 751 / København 101)
//!
//! | size | units | persons | engagements | managers | addresses | kle | itaccounts | lines |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|
//! | small (825) | 31 | 212 | 212 | 31 | 342 | 46 | 343 | 1,217 |
//! | medium (751) | 193 | 4,852 | 5,000 | 193 | 6,387 | 211 | 7,786 | 24,622 |
//! | large (101) | 2,889 | 40,394 | 41,789 | 2,889 | 52,617 | 1,544 | 60,970 | 203,092 |
//!
//! Other municipalities and seeds differ by a few percent (the unit tree's shape is the same for
//! a size; staff counts, names and everything per person vary). Generating the large one as
//! NDJSON (53 MB) takes about half a second in a release build, with a few MB of memory;
//! 10,000 changes about 0.3 s (most of it regenerating the organisation to model it).
//! `cargo run --release -p orghub-generator --example generate` prints these figures.
//!
//! # Guarantees
//!
//! - Deterministic: the same [`Options`] give the same bytes on every machine and Rust version
//!   (a hand-written SplitMix64, integer arithmetic only, JSON keys in sorted order). UUIDs are
//!   version 8, derived from the municipality, size, seed and a counter per kind.
//! - Writer-valid: every line passes [`orghub_contracts::parse_state`], and the stream is in an
//!   order the writer's import accepts (units parents-first, every person before their
//!   engagements, addresses and IT accounts, owners before addresses); [`changes`] applied after
//!   it are all accepted and all change something. [`check::World`] checks both offline.
//! - Streaming: [`organisation`] holds the unit tree and a set of used e-mail names and AD ids,
//!   never the whole organisation.
//!
//! # Layout
//! - `rng`: SplitMix64, seed and UUID derivation.
//! - `data`: names (given names, surnames, towns, institutions) with frequency weights.
//! - `profiles`: per kind of unit, the job titles, leader, KLE numbers and IT systems.
//! - `tree`: the unit hierarchy per size.
//! - `people`: names, e-mail addresses, AD ids, employee numbers, CPR numbers, EAN numbers.
//! - `records`: typed records of each kind and their rendering as import-line states.
//! - `org`: the streaming generator of the whole organisation.
//! - `changes`: the day-to-day change stream and the model of the organisation it keeps.
//! - [`check`]: an offline model of the writer's integrity rules.

pub mod check;

mod changes;
mod classes;
mod data;
mod org;
mod people;
mod profiles;
mod records;
mod rng;
mod structure;
mod tree;

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use orghub_contracts::{EntityKind, Kommune};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// How big an organisation to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// Like Læsø: about 200 employees, 25 units.
    Small,
    /// A mid-sized municipality: about 5,000 employees.
    Medium,
    /// Like København: about 40,000 employees, 3,000 units, 200,000 entities.
    Large,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];

    pub fn word(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Size::ALL
            .into_iter()
            .find(|size| size.word() == s)
            .ok_or_else(|| format!("unknown size {s:?}; expected small, medium or large"))
    }
}

/// What to generate. The same options always give the same organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub kommune: Kommune,
    pub size: Size,
    pub seed: u64,
}

/// One import line: `{"kind": "...", "uuid": "...", "state": {"validity": {...}, ...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub kind: EntityKind,
    pub uuid: Uuid,
    pub state: Value,
}

impl Line {
    pub fn new(kind: EntityKind, uuid: Uuid, state: Value) -> Line {
        Line { kind, uuid, state }
    }

    /// The line as compact JSON, without the newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One operation of a change stream, in the order it must be applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Write a state for its validity interval.
    Put(Line),
    /// End an entity's validity at `to` (exclusive).
    Terminate {
        kind: EntityKind,
        uuid: Uuid,
        to: NaiveDate,
    },
}

impl Change {
    pub fn kind(&self) -> EntityKind {
        match self {
            Change::Put(line) => line.kind,
            Change::Terminate { kind, .. } => *kind,
        }
    }

    pub fn uuid(&self) -> Uuid {
        match self {
            Change::Put(line) => line.uuid,
            Change::Terminate { uuid, .. } => *uuid,
        }
    }

    /// The operation for `POST /api/v1/{kommune}/changes`:
    /// `{"op": "put", "kind", "uuid", "state"}` or `{"op": "terminate", "kind", "uuid", "to"}`.
    pub fn operation(&self) -> Value {
        let word = |k: EntityKind| Value::String(k.word().to_owned());
        match self {
            Change::Put(line) => records::object(vec![
                ("op", Value::String("put".into())),
                ("kind", word(line.kind)),
                ("uuid", Value::String(line.uuid.to_string())),
                ("state", line.state.clone()),
            ]),
            Change::Terminate { kind, uuid, to } => records::object(vec![
                ("op", Value::String("terminate".into())),
                ("kind", word(*kind)),
                ("uuid", Value::String(uuid.to_string())),
                ("to", Value::String(to.format("%Y-%m-%d").to_string())),
            ]),
        }
    }
}

/// The whole organisation, in an order the writer's import accepts. Streams: see the crate docs.
pub fn organisation(opts: &Options) -> impl Iterator<Item = Line> + use<> {
    let classes = classes::Classes::new(opts.kommune);
    org::Org::new(opts).map(move |item| item.line(&classes))
}

/// The standard catalogue of `kommune` (`orghub_contracts::catalogue`) as import lines, parents
/// first: the first lines of every [`organisation`], and what `orghubctl classes seed` loads.
pub fn catalogue(kommune: Kommune) -> impl Iterator<Item = Line> + use<> {
    let classes = classes::Classes::new(kommune);
    classes::entries().map(move |entry| records::ClassRec { entry }.line(&classes))
}

/// `count` changes against [`organisation`]`(opts)`, effective `today` or later, to be applied in
/// order after it. A stream is made against the organisation as generated: two streams for
/// different days are each valid on their own, not one after the other.
pub fn changes(opts: &Options, count: usize, today: NaiveDate) -> Vec<Change> {
    changes::generate(opts, count, today)
}

/// Writes the organisation as NDJSON (one line each, `\n`-terminated); returns the lines written.
pub fn write_ndjson(opts: &Options, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    let mut lines = 0;
    for line in organisation(opts) {
        serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    Ok(lines)
}

/// How many entities of each kind an organisation has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub units: u64,
    pub persons: u64,
    pub engagements: u64,
    pub managers: u64,
    pub addresses: u64,
    pub kle: u64,
    pub itaccounts: u64,
    pub classes: u64,
    pub groups: u64,
    pub associations: u64,
}

impl Stats {
    /// Counts one entity of `kind`.
    pub fn count(&mut self, kind: EntityKind) {
        let n = match kind {
            EntityKind::Unit => &mut self.units,
            EntityKind::Person => &mut self.persons,
            EntityKind::Engagement => &mut self.engagements,
            EntityKind::Manager => &mut self.managers,
            EntityKind::Address => &mut self.addresses,
            EntityKind::Kle => &mut self.kle,
            EntityKind::ItAccount => &mut self.itaccounts,
            EntityKind::Class => &mut self.classes,
            EntityKind::Group => &mut self.groups,
            EntityKind::Association => &mut self.associations,
        };
        *n += 1;
    }

    /// All entities: the number of import lines.
    pub fn total(&self) -> u64 {
        self.units
            + self.persons
            + self.engagements
            + self.managers
            + self.addresses
            + self.kle
            + self.itaccounts
            + self.classes
            + self.groups
            + self.associations
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} classes, {} units, {} persons, {} engagements, {} managers, {} addresses, {} kle, \
             {} itaccounts, {} groups, {} associations ({} in all)",
            self.classes,
            self.units,
            self.persons,
            self.engagements,
            self.managers,
            self.addresses,
            self.kle,
            self.itaccounts,
            self.groups,
            self.associations,
            self.total()
        )
    }
}

/// Counts the organisation's entities (generates it, without rendering JSON).
pub fn stats(opts: &Options) -> Stats {
    let mut stats = Stats::default();
    for item in org::Org::new(opts) {
        stats.count(item.kind());
    }
    stats
}

#[cfg(test)]
mod tests;
