//! A day-to-day change stream against a generated organisation: hires, leavers, transfers, new
//! job titles, new managers, changed phone numbers and surnames, renamed units, future-dated
//! reorganisations and new KLE responsibilities.
//!
//! The stream is built on a small model of the organisation (each entity's latest attributes and
//! end) so that every change is one the writer accepts in order after the organisation, and one
//! that really changes something. The rules it keeps:
//! - effective dates are `today` or later: hires, transfers and leavers on the 1st of a coming
//!   month, reorganisations on the 1st of next month, renames before that;
//! - a put that continues an engagement keeps its current end, so nothing ended comes back;
//! - a leaving manager's function is set vacant from the leaving date;
//! - a person is terminated only after their engagements, addresses and IT accounts, and only
//!   when no manager function still points at them after that date;
//! - a unit moves only to a cousin of the same kind at the same depth (an institution to another
//!   area, an afdeling to another forvaltning), so the hierarchy can never get a cycle; a unit with
//!   a pending move is not renamed (a rename's put would overwrite the move).

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, Months, NaiveDate};
use orghub_contracts::EntityKind;

use crate::data::{
    CARE_NAMES, CARE_PREFIXES, DAYCARE_NAMES, DAYCARE_PREFIXES, HOME_NAMES, HOME_PREFIXES, MIDDLE,
    SCHOOL_STEMS, SURNAMES,
};
use crate::org::{Org, phone};
use crate::people::Name;
use crate::profiles::is_trainee;
use crate::records::{
    AddressRec, AssociationRec, EngagementRec, ItAccountRec, Item, KleRec, ManagerRec, PersonRec,
    UnitRec,
};
use crate::rng::{self, Rng};
use crate::tree::tags;
use crate::{Change, Options};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Hire,
    Leave,
    Transfer,
    JobChange,
    PersonPhone,
    Surname,
    UnitPhone,
    Rename,
    Reorganise,
    Appoint,
    Kle,
    Correction,
}

/// How often each kind of change is tried. A hire yields four or five operations.
const MIX: &[(Kind, u32)] = &[
    (Kind::Hire, 22),
    (Kind::Leave, 24),
    (Kind::Transfer, 10),
    (Kind::JobChange, 8),
    (Kind::PersonPhone, 6),
    (Kind::Surname, 3),
    (Kind::UnitPhone, 3),
    (Kind::Rename, 4),
    (Kind::Reorganise, 4),
    (Kind::Appoint, 4),
    (Kind::Kle, 3),
    (Kind::Correction, 3),
];

/// KLE numbers any unit may be given insight into.
const EXTRA_KLE: &[&str] = &["81", "82", "83", "85", "00.05", "00.17"];

#[derive(Debug)]
struct MUnit {
    rec: UnitRec,
    parent_now: Option<usize>,
    parent_future: Option<usize>,
    /// A move from next month is registered: no renames until then.
    pending: bool,
    phone: Option<AddressRec>,
    kle: Vec<&'static str>,
    manager: Option<usize>,
}

#[derive(Debug)]
struct MPerson {
    rec: PersonRec,
    /// Where the person's timeline starts (a later put from a later date keeps it).
    first_from: NaiveDate,
    name: Name,
    email: Option<(AddressRec, NaiveDate)>,
    phone: Option<(AddressRec, NaiveDate)>,
    /// IT accounts and whether they are still open.
    itaccounts: Vec<(ItAccountRec, bool)>,
    /// Associations (MED, AMR, TR, projects, networks) and whether they are still open.
    associations: Vec<(AssociationRec, bool)>,
    engagements: Vec<usize>,
    manager_of: Option<usize>,
    /// The latest date until which a (since vacated) manager function pointed at this person.
    referenced_until: Option<NaiveDate>,
    terminated: bool,
}

#[derive(Debug)]
struct MEngagement {
    /// Latest attributes; `from` is where the timeline starts, `to` its current end.
    rec: EngagementRec,
    person: usize,
    unit: usize,
    ended: bool,
    /// Changed by this stream already (a correction back to its start would undo that).
    touched: bool,
}

#[derive(Debug)]
struct MManager {
    rec: ManagerRec,
    unit: usize,
    person: Option<usize>,
}

struct Model {
    org: Org,
    today: NaiveDate,
    next_month: NaiveDate,
    units: Vec<MUnit>,
    children: Vec<Vec<usize>>,
    names: HashSet<String>,
    persons: Vec<MPerson>,
    engagements: Vec<MEngagement>,
    unit_engagements: Vec<Vec<usize>>,
    managers: Vec<MManager>,
    vacant: Vec<usize>,
}

/// The first day of the month `k` months after `today`'s month.
fn months_ahead(today: NaiveDate, k: u32) -> NaiveDate {
    today
        .with_day(1)
        .and_then(|d| d.checked_add_months(Months::new(k)))
        .unwrap_or(today)
}

/// `Center for …` from an afdeling's name in its indefinite form, or back: `Sygeplejen` ↔
/// `Center for Sygepleje`, `Bibliotekerne` ↔ `Center for Biblioteker`, `Borgerservice` ↔
/// `Center for Borgerservice`. `None` when the name has no natural indefinite form.
fn center_name(current: &str) -> Option<String> {
    if let Some(rest) = current.strip_prefix("Center for ") {
        return Some(rest.to_owned());
    }
    if current.to_lowercase().contains("cent") {
        // Jobcenter Aarhus, Sundhedscentret: already a centre.
        return None;
    }
    let indefinite = if let Some(stem) = current.strip_suffix("plejen") {
        format!("{stem}pleje")
    } else if let Some(stem) = current.strip_suffix("erne") {
        format!("{stem}er")
    } else if current.ends_with("en") || current.ends_with("et") || current.ends_with("ne") {
        return None;
    } else {
        current.to_owned()
    };
    Some(format!("Center for {indefinite}"))
}

impl Model {
    fn new(opts: &Options, today: NaiveDate) -> Model {
        let mut org = Org::new(opts);
        let mut units: Vec<MUnit> = Vec::new();
        let mut unit_index = HashMap::new();
        let mut persons: Vec<MPerson> = Vec::new();
        let mut person_index = HashMap::new();
        let mut engagements = Vec::new();
        let mut managers = Vec::new();
        for item in org.by_ref() {
            match item {
                // The payroll and MED units are not changed by the stream.
                Item::Unit(rec) if rec.hierarchy.is_some() => {}
                Item::Class(_) | Item::Group(_) => {}
                Item::Association(rec) => {
                    if let Some(&p) = person_index.get(&rec.person) {
                        let person: &mut MPerson = &mut persons[p];
                        person.associations.push((rec, true));
                    }
                }
                Item::Unit(rec) => {
                    unit_index.insert(rec.uuid, units.len());
                    let parent = rec.parent.and_then(|p| unit_index.get(&p).copied());
                    units.push(MUnit {
                        rec,
                        parent_now: parent,
                        parent_future: parent,
                        pending: false,
                        phone: None,
                        kle: Vec::new(),
                        manager: None,
                    });
                }
                Item::Person(rec) => {
                    person_index.insert(rec.uuid, persons.len());
                    persons.push(MPerson {
                        first_from: rec.from,
                        name: Name {
                            given: rec.given_name.clone(),
                            surname: rec.surname.clone(),
                            female: false,
                        },
                        rec,
                        email: None,
                        phone: None,
                        itaccounts: Vec::new(),
                        associations: Vec::new(),
                        engagements: Vec::new(),
                        manager_of: None,
                        referenced_until: None,
                        terminated: false,
                    });
                }
                Item::Engagement(rec) => {
                    let (Some(&p), Some(&u)) =
                        (person_index.get(&rec.person), unit_index.get(&rec.unit))
                    else {
                        continue;
                    };
                    persons[p].engagements.push(engagements.len());
                    engagements.push(MEngagement {
                        rec,
                        person: p,
                        unit: u,
                        ended: false,
                        touched: false,
                    });
                }
                Item::Manager(rec) => {
                    let Some(&u) = unit_index.get(&rec.unit) else {
                        continue;
                    };
                    let person = rec.person.and_then(|p| person_index.get(&p).copied());
                    if let Some(p) = person {
                        persons[p].manager_of = Some(managers.len());
                    }
                    units[u].manager = Some(managers.len());
                    managers.push(MManager {
                        rec,
                        unit: u,
                        person,
                    });
                }
                Item::Address(rec) => {
                    let first = rec.from;
                    match (rec.owner_kind, rec.address_type) {
                        ("unit", "phone") => {
                            if let Some(&u) = unit_index.get(&rec.owner) {
                                units[u].phone = Some(rec);
                            }
                        }
                        ("person", kind @ ("email" | "phone")) => {
                            if let Some(&p) = person_index.get(&rec.owner) {
                                if kind == "email" {
                                    persons[p].email = Some((rec, first));
                                } else {
                                    persons[p].phone = Some((rec, first));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Item::Kle(rec) => {
                    if let Some(&u) = unit_index.get(&rec.unit) {
                        units[u].kle.push(rec.kle_number);
                    }
                }
                Item::ItAccount(rec) => {
                    if let Some(&p) = person_index.get(&rec.person) {
                        persons[p].itaccounts.push((rec, true));
                    }
                }
            }
        }
        let mut children = vec![Vec::new(); units.len()];
        for (i, u) in units.iter().enumerate() {
            if let Some(p) = u.parent_now {
                children[p].push(i);
            }
        }
        let mut unit_engagements = vec![Vec::new(); units.len()];
        for (i, e) in engagements.iter().enumerate() {
            unit_engagements[e.unit].push(i);
        }
        let vacant = managers
            .iter()
            .enumerate()
            .filter(|(_, m)| m.person.is_none())
            .map(|(i, _)| i)
            .collect();
        let names = units.iter().map(|u| u.rec.name.clone()).collect();
        let key = rng::derive(&[
            org.key,
            rng::tag("changes"),
            u64::from(today.num_days_from_ce().unsigned_abs()),
        ]);
        org.rekey_uuids(key);
        Model {
            org,
            today,
            next_month: months_ahead(today, 1),
            units,
            children,
            names,
            persons,
            engagements,
            unit_engagements,
            managers,
            vacant,
        }
    }

    /// Whether engagement `e` is still running on `date` or later.
    fn runs_past(&self, e: usize, date: NaiveDate) -> bool {
        let rec = &self.engagements[e].rec;
        !self.engagements[e].ended && rec.to.is_none_or(|t| t > date)
    }

    fn hire(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        if self.engagements.is_empty() {
            return;
        }
        // A random engagement's unit: units are picked in proportion to their staff.
        let unit = self.engagements[rng.index(self.engagements.len())].unit;
        let profile = self.org.tree.units[unit].profile;
        let title = *rng.weighted(profile.titles);
        let start = months_ahead(self.today, if rng.percent(70) { 1 } else { 2 });
        let hired = self.org.make_person(rng, unit, title, false, Some(start));
        out.push(Change::Put(hired.person.line(&self.org.classes)));
        let p = self.persons.len();
        let mut engagement_ids = Vec::new();
        for rec in hired.engagements {
            out.push(Change::Put(rec.line(&self.org.classes)));
            let e = self.engagements.len();
            engagement_ids.push(e);
            self.unit_engagements[unit].push(e);
            self.engagements.push(MEngagement {
                rec,
                person: p,
                unit,
                ended: false,
                touched: true,
            });
        }
        for a in hired.email.iter().chain(&hired.phone) {
            out.push(Change::Put(a.line(&self.org.classes)));
        }
        for it in &hired.itaccounts {
            out.push(Change::Put(it.line(&self.org.classes)));
        }
        self.persons.push(MPerson {
            first_from: hired.person.from,
            rec: hired.person,
            name: hired.name,
            email: hired.email.map(|a| (a, start)),
            phone: hired.phone.map(|a| (a, start)),
            itaccounts: hired.itaccounts.into_iter().map(|it| (it, true)).collect(),
            associations: Vec::new(),
            engagements: engagement_ids,
            manager_of: None,
            referenced_until: None,
            terminated: false,
        });
    }

    fn vacate(&mut self, m: usize, from: NaiveDate, out: &mut Vec<Change>) {
        let manager = &mut self.managers[m];
        if let Some(p) = manager.person.take() {
            self.persons[p].manager_of = None;
            let until = &mut self.persons[p].referenced_until;
            *until = Some(until.map_or(from, |u| u.max(from)));
        }
        manager.rec.person = None;
        manager.rec.from = from;
        out.push(Change::Put(manager.rec.line(&self.org.classes)));
        self.vacant.push(m);
    }

    /// Someone's engagement ends; when it was their last, often their AD account too, and now and
    /// then (someone leaving the municipality for good) everything about them.
    fn leave(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        for _ in 0..20 {
            let e = rng.index(self.engagements.len());
            let to = months_ahead(self.today, rng.range(1, 3));
            let p = self.engagements[e].person;
            if !self.runs_past(e, to)
                || self.engagements[e].rec.from >= to
                || self.persons[p].terminated
            {
                continue;
            }
            // The accounts serving the engagement stop serving it first: the writer refuses to
            // end an engagement that an account still references after the end.
            let ended = self.engagements[e].rec.uuid;
            for (it, open) in &mut self.persons[p].itaccounts {
                if *open && it.engagements.contains(&ended) {
                    it.engagements.retain(|x| *x != ended);
                    let mut rec = it.clone();
                    rec.from = rec.from.max(to);
                    out.push(Change::Put(rec.line(&self.org.classes)));
                }
            }
            out.push(Change::Terminate {
                kind: EntityKind::Engagement,
                uuid: ended,
                to,
            });
            self.engagements[e].ended = true;
            self.engagements[e].touched = true;
            self.engagements[e].rec.to = Some(to);
            if let Some(m) = self.persons[p].manager_of
                && self.managers[m].unit == self.engagements[e].unit
            {
                self.vacate(m, to, out);
            }
            let still_employed = self.persons[p]
                .engagements
                .iter()
                .any(|&o| self.runs_past(o, to));
            if still_employed || !rng.percent(60) {
                return;
            }
            let person = &self.persons[p];
            let everything = rng.percent(40)
                && person.manager_of.is_none()
                && person.referenced_until.is_none_or(|u| u <= to)
                && person.first_from < to
                && person
                    .itaccounts
                    .iter()
                    .all(|(it, open)| !*open || it.from < to)
                && person
                    .email
                    .iter()
                    .chain(&person.phone)
                    .all(|(_, first)| *first < to)
                && person
                    .associations
                    .iter()
                    .all(|(a, open)| !*open || a.to.is_some_and(|t| t <= to) || a.from < to);
            let person = &mut self.persons[p];
            for (it, open) in &mut person.itaccounts {
                if *open && it.from < to && (everything || it.it_system == "Active Directory") {
                    *open = false;
                    out.push(Change::Terminate {
                        kind: EntityKind::ItAccount,
                        uuid: it.uuid,
                        to,
                    });
                }
            }
            if !everything {
                return;
            }
            for (a, open) in &mut person.associations {
                if *open && a.to.is_none_or(|t| t > to) {
                    *open = false;
                    out.push(Change::Terminate {
                        kind: EntityKind::Association,
                        uuid: a.uuid,
                        to,
                    });
                }
            }
            for (address, _) in person.email.iter().chain(&person.phone) {
                out.push(Change::Terminate {
                    kind: EntityKind::Address,
                    uuid: address.uuid,
                    to,
                });
            }
            out.push(Change::Terminate {
                kind: EntityKind::Person,
                uuid: person.rec.uuid,
                to,
            });
            person.terminated = true;
            return;
        }
    }

    /// An engagement that can be continued from `from` with other attributes.
    fn movable_engagement(&self, rng: &mut Rng, from: NaiveDate) -> Option<usize> {
        for _ in 0..20 {
            let e = rng.index(self.engagements.len());
            let person = &self.persons[self.engagements[e].person];
            if self.runs_past(e, from)
                && self.engagements[e].rec.from < from
                && !person.terminated
                && person.manager_of.is_none()
            {
                return Some(e);
            }
        }
        None
    }

    /// The engagement continues from `from` with new attributes, keeping its end.
    fn continue_engagement(&mut self, e: usize, from: NaiveDate, out: &mut Vec<Change>) {
        self.engagements[e].touched = true;
        let mut rec = self.engagements[e].rec.clone();
        rec.from = from;
        out.push(Change::Put(rec.line(&self.org.classes)));
    }

    /// Someone moves to another unit of the same kind (another school, another plejecenter).
    fn transfer(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let from = months_ahead(self.today, rng.range(1, 2));
        let Some(e) = self.movable_engagement(rng, from) else {
            return;
        };
        let unit = self.engagements[e].unit;
        let key = self.org.tree.units[unit].profile.key;
        let Some(group) = self.org.groups.get(key) else {
            return;
        };
        let target = group[rng.index(group.len())];
        if target == unit {
            return;
        }
        self.engagements[e].unit = target;
        self.engagements[e].rec.unit = self.units[target].rec.uuid;
        self.unit_engagements[target].push(e);
        self.continue_engagement(e, from, out);
    }

    /// Someone gets another job title in the same unit.
    fn job_change(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let from = months_ahead(self.today, rng.range(1, 2));
        let Some(e) = self.movable_engagement(rng, from) else {
            return;
        };
        let current = self.engagements[e].rec.job_title;
        if is_trainee(current) {
            return;
        }
        let titles = self.org.tree.units[self.engagements[e].unit].profile.titles;
        let title = *rng.weighted(titles);
        if title == current || is_trainee(title) {
            return;
        }
        self.engagements[e].rec.job_title = title;
        self.continue_engagement(e, from, out);
    }

    /// A vacant manager function gets one of the unit's employees, who also takes the title.
    fn appoint(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        if self.vacant.is_empty() {
            return;
        }
        let slot = rng.index(self.vacant.len());
        let m = self.vacant[slot];
        let unit = self.managers[m].unit;
        let from = self.next_month.max(self.managers[m].rec.from);
        let candidates: Vec<usize> = self.unit_engagements[unit]
            .iter()
            .copied()
            .filter(|&e| {
                let eng = &self.engagements[e];
                let person = &self.persons[eng.person];
                eng.unit == unit
                    && !eng.ended
                    && eng.rec.to.is_none()
                    && eng.rec.from <= from
                    && !is_trainee(eng.rec.job_title)
                    && !person.terminated
                    && person.manager_of.is_none()
                    && person.first_from <= from
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let e = candidates[rng.index(candidates.len())];
        let p = self.engagements[e].person;
        self.vacant.swap_remove(slot);
        let manager = &mut self.managers[m];
        manager.person = Some(p);
        manager.rec.person = Some(self.persons[p].rec.uuid);
        manager.rec.from = from;
        out.push(Change::Put(manager.rec.line(&self.org.classes)));
        self.persons[p].manager_of = Some(m);
        let leader = self.org.tree.units[unit].leader();
        if self.engagements[e].rec.job_title != leader {
            self.engagements[e].rec.job_title = leader;
            self.continue_engagement(e, from, out);
        }
    }

    fn living_person(&self, rng: &mut Rng) -> Option<usize> {
        (0..20)
            .map(|_| rng.index(self.persons.len()))
            .find(|&p| !self.persons[p].terminated)
    }

    /// A new work phone number, or a first one.
    fn person_phone(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let Some(p) = self.living_person(rng) else {
            return;
        };
        let from = self.today.max(self.persons[p].first_from);
        let value = phone(rng);
        let person = self.persons[p].rec.uuid;
        let rec = match &mut self.persons[p].phone {
            Some((rec, _)) => {
                if rec.value == value {
                    return;
                }
                rec.value = value;
                rec.from = from;
                rec.clone()
            }
            None => {
                let rec = AddressRec {
                    uuid: self.org.uuid(tags::ADDRESS),
                    from,
                    owner_kind: "person",
                    owner: person,
                    address_type: "phone",
                    value,
                    visibility: "internal",
                };
                self.persons[p].phone = Some((rec.clone(), from));
                rec
            }
        };
        out.push(Change::Put(rec.line(&self.org.classes)));
    }

    /// A new surname (marriage, divorce) and with it a new e-mail address.
    fn surname(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let Some(p) = self.living_person(rng) else {
            return;
        };
        let mut surname = (*rng.weighted(SURNAMES)).to_owned();
        if rng.percent(30) {
            surname = format!("{} {surname}", rng.pick(MIDDLE));
        }
        let person = &mut self.persons[p];
        if surname == person.rec.surname || person.email.is_none() {
            return;
        }
        let from = self.today.max(person.first_from);
        person.rec.surname = surname.clone();
        person.rec.from = from;
        person.name.surname = surname;
        out.push(Change::Put(person.rec.line(&self.org.classes)));
        let value = self.org.namer.person_email(&person.name);
        if let Some((email, _)) = &mut person.email {
            email.value = value;
            email.from = from;
            out.push(Change::Put(email.line(&self.org.classes)));
        }
    }

    fn unit_phone(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let u = rng.index(self.units.len());
        let value = phone(rng);
        let from = self.today;
        if let Some(rec) = &mut self.units[u].phone
            && rec.value != value
        {
            rec.value = value;
            rec.from = from;
            out.push(Change::Put(rec.line(&self.org.classes)));
        }
    }

    fn new_name(&self, rng: &mut Rng, u: usize) -> Option<String> {
        let node = &self.org.tree.units[u];
        let current = &self.units[u].rec.name;
        let name = match node.profile.key {
            _ if node.team => return None,
            "daycare" => format!(
                "{} {}",
                rng.weighted(DAYCARE_PREFIXES),
                rng.pick(DAYCARE_NAMES)
            ),
            "care-home" => format!("{} {}", rng.weighted(CARE_PREFIXES), rng.pick(CARE_NAMES)),
            "residential" => format!("{} {}", rng.weighted(HOME_PREFIXES), rng.pick(HOME_NAMES)),
            "school" => {
                let stem = rng.pick(SCHOOL_STEMS);
                if stem.ends_with(' ') {
                    format!("{stem}Skole")
                } else {
                    format!("{stem}skolen")
                }
            }
            _ if node.rec.unit_type == "Afdeling" || node.rec.unit_type == "Center" => {
                center_name(current)?
            }
            _ => return None,
        };
        (!self.names.contains(&name)).then_some(name)
    }

    /// A unit gets a new name from a day before next month.
    fn rename(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let u = 1 + rng.index(self.units.len().saturating_sub(1));
        if u >= self.units.len() || self.units[u].pending {
            return;
        }
        let Some(name) = self.new_name(rng, u) else {
            return;
        };
        let days = (self.next_month - self.today).num_days().max(1);
        let from = self.today + chrono::Duration::days(rng.below(days as u64) as i64);
        let unit = &mut self.units[u];
        self.names.remove(&unit.rec.name);
        self.names.insert(name.clone());
        unit.rec.name = name;
        unit.rec.from = from;
        out.push(Change::Put(unit.rec.line(&self.org.classes)));
    }

    fn first_word(&self, u: usize) -> &str {
        let name = &self.units[u].rec.name;
        name.split(' ').next().unwrap_or(name)
    }

    /// Whether `unit` lies on the way up from `start` in the hierarchy from next month on.
    fn above_in_future(&self, start: usize, unit: usize) -> bool {
        let mut at = Some(start);
        let mut steps = 0;
        while let Some(u) = at {
            if u == unit || steps > self.units.len() {
                return true;
            }
            steps += 1;
            at = self.units[u].parent_future;
        }
        false
    }

    /// From the 1st of next month a unit belongs under a sibling of its parent: an institution
    /// moves to another area, an afdeling to another forvaltning.
    fn reorganise(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let u = rng.index(self.units.len());
        let node = &self.org.tree.units[u];
        if node.depth < 2 || node.team || self.units[u].pending {
            return;
        }
        let Some(parent) = self.units[u].parent_now else {
            return;
        };
        let candidates: Vec<usize> = if node.depth == 2 {
            self.children[0].clone()
        } else {
            let Some(grandparent) = self.units[parent].parent_now else {
                return;
            };
            let p = &self.org.tree.units[parent];
            self.children[grandparent]
                .iter()
                .copied()
                .filter(|&c| {
                    let n = &self.org.tree.units[c];
                    n.profile.key == p.profile.key
                        && n.rec.unit_type == p.rec.unit_type
                        && self.first_word(c) == self.first_word(parent)
                })
                .collect()
        };
        let candidates: Vec<usize> = candidates
            .into_iter()
            .filter(|&c| c != parent && !self.above_in_future(c, u))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let target = candidates[rng.index(candidates.len())];
        let from = self.next_month;
        let parent_uuid = self.units[target].rec.uuid;
        let unit = &mut self.units[u];
        unit.pending = true;
        unit.parent_future = Some(target);
        let mut rec = unit.rec.clone();
        rec.from = from;
        rec.parent = Some(parent_uuid);
        unit.rec.parent = Some(parent_uuid);
        out.push(Change::Put(rec.line(&self.org.classes)));
    }

    /// A back-dated correction: an engagement's job title was registered wrong, and the right one
    /// is written from the engagement's start, years back (a new registration of an old validity).
    fn correction(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        for _ in 0..20 {
            let e = rng.index(self.engagements.len());
            let eng = &self.engagements[e];
            let person = &self.persons[eng.person];
            if eng.touched
                || eng.ended
                || person.terminated
                || person.manager_of.is_some()
                || eng.rec.from >= self.today
                || is_trainee(eng.rec.job_title)
            {
                continue;
            }
            let titles = self.org.tree.units[eng.unit].profile.titles;
            let title = *rng.weighted(titles);
            if title == eng.rec.job_title || is_trainee(title) {
                continue;
            }
            self.engagements[e].touched = true;
            self.engagements[e].rec.job_title = title;
            out.push(Change::Put(self.engagements[e].rec.line(&self.org.classes)));
            return;
        }
    }

    fn kle(&mut self, rng: &mut Rng, out: &mut Vec<Change>) {
        let u = rng.index(self.units.len());
        if self.org.tree.units[u].team {
            return;
        }
        let number = *rng.pick(EXTRA_KLE);
        if self.units[u].kle.contains(&number) {
            return;
        }
        self.units[u].kle.push(number);
        let rec = KleRec {
            uuid: self.org.uuid(tags::KLE),
            from: self.today,
            unit: self.units[u].rec.uuid,
            kle_number: number,
            aspects: &["indsigt"],
        };
        out.push(Change::Put(rec.line(&self.org.classes)));
    }
}

pub(crate) fn generate(opts: &Options, count: usize, today: NaiveDate) -> Vec<Change> {
    let mut model = Model::new(opts, today);
    let mut rng = Rng::new(&[
        model.org.key,
        rng::tag("change-stream"),
        u64::from(today.num_days_from_ce().unsigned_abs()),
    ]);
    let mut out = Vec::with_capacity(count + 8);
    let mut idle = 0;
    while out.len() < count {
        let before = out.len();
        match *rng.weighted(MIX) {
            Kind::Hire => model.hire(&mut rng, &mut out),
            Kind::Leave => model.leave(&mut rng, &mut out),
            Kind::Transfer => model.transfer(&mut rng, &mut out),
            Kind::JobChange => model.job_change(&mut rng, &mut out),
            Kind::PersonPhone => model.person_phone(&mut rng, &mut out),
            Kind::Surname => model.surname(&mut rng, &mut out),
            Kind::UnitPhone => model.unit_phone(&mut rng, &mut out),
            Kind::Rename => model.rename(&mut rng, &mut out),
            Kind::Reorganise => model.reorganise(&mut rng, &mut out),
            Kind::Appoint => model.appoint(&mut rng, &mut out),
            Kind::Kle => model.kle(&mut rng, &mut out),
            Kind::Correction => model.correction(&mut rng, &mut out),
        }
        if out.len() == before {
            idle += 1;
            // Hires always succeed; this only matters if everything else keeps missing.
            if idle > 100 {
                model.hire(&mut rng, &mut out);
                idle = 0;
            }
        } else {
            idle = 0;
        }
    }
    // A prefix of a valid stream is valid: every operation only relies on earlier ones.
    out.truncate(count);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn center_names_use_the_indefinite_form() {
        let c = |s: &str| center_name(s);
        assert_eq!(c("Sygeplejen").as_deref(), Some("Center for Sygepleje"));
        assert_eq!(
            c("Bibliotekerne").as_deref(),
            Some("Center for Biblioteker")
        );
        assert_eq!(
            c("Borgerservice").as_deref(),
            Some("Center for Borgerservice")
        );
        assert_eq!(c("Center for Sygepleje").as_deref(), Some("Sygepleje"));
        assert_eq!(c("Familieafdelingen"), None);
        assert_eq!(c("Jobcenter Læsø"), None);
        assert_eq!(c("Ydelsescentret"), None);
    }

    #[test]
    fn months_ahead_are_firsts_of_months() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(months_ahead(d(2026, 12, 15), 1), d(2027, 1, 1));
        assert_eq!(months_ahead(d(2026, 1, 31), 2), d(2026, 3, 1));
    }
}
