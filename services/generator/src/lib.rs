//! orghub-generator: deterministic, realistic Danish municipal organisations and day-to-day
//! change streams against them, as import lines and change operations the writer accepts. For
//! demos (`orghubctl generate`), black-box tests and benchmarks.
//!
//! ```
//! use orghub_generator::{Options, Size, organisation};
//! use orghub_contracts::EntityKind;
//!
//! let opts = Options { kommune: "825".parse()?, size: Size::Small, seed: 1 };
//! let mut lines = organisation(&opts);
//! assert_eq!(lines.next().expect("the catalogue first").kind, EntityKind::Class);
//! let root = lines.find(|l| l.kind == EntityKind::Unit).expect("a root unit");
//! assert_eq!(root.state["name"], "Læsø Kommune");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it makes
//!
//! First orghub's standard catalogue ([`orghub_contracts::catalogue`], also [`catalogue`]): every
//! class with its deterministic UUID; every class reference below is one of them (the generator
//! holds the catalogue's titles, "Pædagog", "Månedslønnet, fuldtid", "Active Directory", and
//! writes their UUIDs).
//!
//! The line organisation (hierarchy `null`): a root unit (`<Name> Kommune`; `Københavns
//! Kommune`, `Bornholms Regionskommune`) with the top of the administration cut as the
//! municipality is governed: magistratsafdelinger in Aarhus, Odense and Aalborg, forvaltninger in
//! København, Frederiksberg and a third of the others, `Center for …` in the rest (Borgmesterens
//! Afdeling, Børn og Unge, Sundhed og Omsorg, Teknik og Miljø, Kultur og Borgerservice,
//! Beskæftigelse, Sociale Forhold); below them afdelinger, centre and områder, and institutions
//! with realistic names (`Skovvangskolen`, `Børnehuset Solsikken`, `Plejecenter Lindehuset`,
//! `Jobcenter Aarhus`, `Hovedbiblioteket`, `Tandklinik …`), in the large size with teams, wards
//! and school departments below them. Units are valid from 1 January 2007 (the structural
//! reform), each with its level (`Niveau n`), a manager function (about 3.5 % vacant below the
//! forvaltninger), KLE numbers with aspects, an e-mail address and usually a `+45 8…` phone
//! number; institutions an EAN number and often a P-number.
//!
//! Beside it (`structure.rs`): the payroll organisation of the municipality's payroll system (SD
//! Løn or KMD Opus; hierarchy `Lønorganisation`), the MED organisation (`MED-organisation`:
//! Hovedudvalget, an Områdeudvalg per forvaltning, a Lokaludvalg per afdeling or centre), and
//! groups: each forvaltning's projects (2015–2026, some finished, half with a steering group
//! nested below) and the AMR and leader networks. Associations seat people in them: each
//! committee's chair is its unit's leader, units of eight or more elect an AMR and a TR (who sit
//! in the committee, the AMR also in the AMR network), committees have elected members, staff
//! join their forvaltning's projects (the first as lead). Terms start after the person did, most
//! in the last ten years, and one in five ended.
//!
//! Staff are drawn per unit from its profile (`profiles.rs`): teachers and pædagoger in schools,
//! social- og sundhedsassistenter and -hjælpere in plejecentre, socialrådgivere in family
//! counselling, and so on, each with a leader of the right title. People have Danish names drawn
//! by frequency, an employee number as `user_key`, in 30 % a CPR number that belongs to nobody
//! (see `people::cpr`: dated 1858–1869 and failing modulus 11), an e-mail address
//! `given.surname<n>@<kommune>.dk` (æ→ae, ø→oe, å→aa), often a phone number, an Active Directory
//! account (`anje01`) serving their open-ended engagements and, depending on their work, a Nexus,
//! Momentum, Aula … account, and some a payroll account. Engagements are "Månedslønnet,
//! fuldtid/deltid", "Timelønnet" or "Elev", started on the 1st of a month between 2007 and August
//! 2026, some (trainees, temporary staff) ending between 2027 and 2029; one person in ten came
//! from an earlier post, an ended primary engagement; about 4 % have a second, hourly, not
//! primary engagement elsewhere (one primary engagement per person on any date). The change
//! stream adds back-dated corrections (a job title corrected from the engagement's start).
//!
//! # Sizes (seed 1, Læsø 825 / Aarhus 751 / København 101)
//!
//! | size | classes | units | persons | engagements | managers | addresses | kle | itaccounts | groups | associations | lines |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
//! | small (825) | 272 | 91 | 212 | 227 | 31 | 334 | 46 | 355 | 10 | 188 | 1,766 |
//! | medium (751) | 272 | 289 | 4,852 | 5,399 | 193 | 6,362 | 211 | 7,906 | 23 | 1,051 | 26,558 |
//! | large (101) | 272 | 3,021 | 40,394 | 45,075 | 2,889 | 52,706 | 1,544 | 60,925 | 44 | 3,580 | 210,450 |
//!
//! (units include the payroll and MED units; managers are the line units.) Other municipalities
//! and seeds differ by a few percent. Generating the large one as NDJSON takes about 3.3 s in the
//! dev profile (10,000 changes 0.6 s); `cargo run --release -p orghub-generator --example generate` prints the figures.
//!
//! # Guarantees
//!
//! - Deterministic: the same [`Options`] give the same bytes on every machine and Rust version
//!   (a hand-written SplitMix64, integer arithmetic only, JSON keys in sorted order). UUIDs are
//!   version 8, derived from the municipality, size, seed and a counter per kind.
//! - Writer-valid: every line passes [`orghub_contracts::parse_state`], and the stream is in an
//!   order the writer's import accepts (classes first, units parents-first per hierarchy, groups,
//!   then every person before their engagements, addresses, IT accounts and associations, owners
//!   before addresses); [`changes`] applied after
//!   it are all accepted and all change something. [`check::World`] checks both offline.
//! - Streaming: [`organisation`] holds the unit tree and a set of used e-mail names and AD ids,
//!   never the whole organisation.
//!
//! # Layout
//! - `rng`: SplitMix64, seed and UUID derivation.
//! - `data`: names (given names, surnames, towns, institutions) with frequency weights.
//! - `profiles`: per kind of unit, the job titles, leader, KLE numbers and IT systems.
//! - `classes`: the catalogue's titles resolved to one municipality's class UUIDs.
//! - `tree`: the line organisation per size and governance.
//! - `structure`: the payroll and MED hierarchies, the groups, and the seats in them.
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
