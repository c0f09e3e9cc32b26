//! The organisation as a stream of typed items: first every unit (parents first), then unit by
//! unit its addresses, KLE numbers, staff (each person followed by their engagements, addresses
//! and IT accounts) and finally its manager.
//!
//! Only the unit tree, the uniqueness maps of [`Namer`] and the current unit's items are held in
//! memory; each unit's staff comes from its own seeded PRNG.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{Datelike, Months, NaiveDate};
use uuid::Uuid;

use crate::Options;
use crate::classes::{self, Classes};
use crate::people::{self, Namer, ascii};
use crate::profiles::is_trainee;
use crate::records::{
    AddressRec, AssociationRec, ClassRec, EngagementRec, ItAccountRec, Item, KleRec, ManagerRec,
    Member, PersonRec,
};
use crate::rng::{self, Rng, UuidSource};
use crate::structure::Structure;
use crate::tree::{self, Tree, epoch, tags};
use orghub_contracts::catalogue::Entry;

/// The first of the month `m` months after January 2007.
pub(crate) fn month(m: u32) -> NaiveDate {
    epoch()
        .checked_add_months(Months::new(m))
        .unwrap_or(NaiveDate::MAX)
}

/// The latest start month of a generated engagement: August 2026.
pub(crate) const LAST_START: u32 = (2026 - 2007) * 12 + 7;
/// January 2025, the earliest start of a trainee still in training.
const TRAINEE_FIRST: u32 = (2025 - 2007) * 12;
/// January 2027 and December 2029: the range of end dates of fixed-term engagements.
const END_FIRST: u32 = (2027 - 2007) * 12;
const END_LAST: u32 = (2029 - 2007) * 12 + 11;

/// A Danish landline-style number in the 8x series: `+45 8123 4567`.
pub(crate) fn phone(rng: &mut Rng) -> String {
    format!("+45 8{:03} {:04}", rng.below(1000), rng.below(10_000))
}

/// The organisation key: everything derived (UUIDs, PRNG streams) starts from it.
pub(crate) fn org_key(opts: &Options) -> u64 {
    rng::derive(&[
        rng::tag("orghub-generator/v1"),
        u64::from(opts.kommune.code()),
        opts.size as u64,
        opts.seed,
    ])
}

/// How an engagement is held.
pub(crate) struct Terms {
    pub engagement_type: &'static str,
    pub to: Option<NaiveDate>,
}

/// Engagement type and end for a title starting `from`.
pub(crate) fn terms(rng: &mut Rng, title: &str, from: NaiveDate, leader: bool) -> Terms {
    let mut terms = draw_terms(rng, title, from, leader);
    // Fixed terms end at least half a year after they start (a change stream hires later).
    if let Some(to) = terms.to
        && to < from + Months::new(6)
    {
        terms.to = from.checked_add_months(Months::new(rng.range(6, 18)));
    }
    terms
}

fn draw_terms(rng: &mut Rng, title: &str, from: NaiveDate, leader: bool) -> Terms {
    if is_trainee(title) {
        let to = from
            .checked_add_months(Months::new(rng.range(24, 42)))
            .map(|d| d.max(month(END_FIRST)));
        return Terms {
            engagement_type: "Elev",
            to,
        };
    }
    if leader || title == "Dagplejer" {
        return Terms {
            engagement_type: "Månedslønnet, fuldtid",
            to: None,
        };
    }
    let roll = rng.below(100);
    let hourly = title == "Studentermedhjælper" || title == "Livredder" || roll >= 88;
    if hourly {
        let to = rng
            .percent(40)
            .then(|| month(rng.range(END_FIRST, END_FIRST + 18)));
        return Terms {
            engagement_type: "Timelønnet",
            to,
        };
    }
    let engagement_type = if roll < 60 {
        "Månedslønnet, fuldtid"
    } else {
        "Månedslønnet, deltid"
    };
    let to = rng
        .percent(6)
        .then(|| month(rng.range(END_FIRST, END_LAST)));
    Terms {
        engagement_type,
        to,
    }
}

/// A start date: a third within the last three years, a third 3–10 years back, the rest earlier.
fn tenure_start(rng: &mut Rng) -> NaiveDate {
    let back = match rng.below(100) {
        0..35 => rng.range(0, 35),
        35..70 => rng.range(36, 119),
        _ => rng.range(120, LAST_START),
    };
    month(LAST_START - back)
}

/// What the generator knows about a person once made, for a change stream to work with.
#[derive(Debug, Clone)]
pub(crate) struct Hired {
    pub person: PersonRec,
    pub engagements: Vec<EngagementRec>,
    pub email: Option<AddressRec>,
    pub phone: Option<AddressRec>,
    pub itaccounts: Vec<ItAccountRec>,
    pub name: people::Name,
}

/// The streaming generator state.
#[derive(Debug)]
pub(crate) struct Org {
    /// The standard catalogue in this municipality: its classes are the first lines.
    pub classes: Classes,
    catalogue: Vec<Entry>,
    next_class: usize,
    pub tree: Tree,
    /// The payroll and MED hierarchies and the groups, emitted after the line organisation.
    pub structure: Structure,
    next_structure_unit: usize,
    next_group: usize,
    /// Members per MED committee, to keep committees of a realistic size.
    committee_members: HashMap<Uuid, u32>,
    /// Projects that have their lead.
    project_leads: HashSet<usize>,
    /// The payroll system's title (`SD Løn`, `KMD Opus`): where salaried staff have accounts.
    payroll: &'static str,
    pub namer: Namer,
    pub key: u64,
    pub uuids: UuidSource,
    counters: [u64; 16],
    /// Units by profile key, for secondary engagements and transfers.
    pub groups: HashMap<&'static str, Vec<usize>>,
    next_unit: usize,
    next_staffed: usize,
    queue: VecDeque<Item>,
}

impl Org {
    pub(crate) fn new(opts: &Options) -> Org {
        let key = org_key(opts);
        let uuids = UuidSource::new(key);
        let tree = tree::build(opts, key, &uuids);
        let mut groups: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for (i, u) in tree.units.iter().enumerate() {
            groups.entry(u.profile.key).or_default().push(i);
        }
        let namer = Namer::new(tree.domain.clone());
        let structure = Structure::build(opts, key, &uuids, &tree);
        Org {
            structure,
            next_structure_unit: 0,
            next_group: 0,
            committee_members: HashMap::new(),
            project_leads: HashSet::new(),
            payroll: crate::structure::payroll_system(opts),
            classes: Classes::new(opts.kommune),
            catalogue: classes::entries().collect(),
            next_class: 0,
            tree,
            namer,
            key,
            uuids,
            counters: [0; 16],
            groups,
            next_unit: 0,
            next_staffed: 0,
            queue: VecDeque::new(),
        }
    }

    /// From now on, derive UUIDs from `key` instead (a change stream's own), counting from 0.
    pub(crate) fn rekey_uuids(&mut self, key: u64) {
        self.uuids = UuidSource::new(key);
        self.counters = [0; 16];
    }

    /// The next UUID of a kind.
    pub(crate) fn uuid(&mut self, tag: u64) -> Uuid {
        let n = self.counters[tag as usize];
        self.counters[tag as usize] += 1;
        self.uuids.uuid(tag, n)
    }

    fn staff_unit(&mut self, i: usize) {
        let mut rng = Rng::new(&[self.key, rng::tag("staff"), i as u64]);
        let node = self.tree.units[i].clone();
        let unit = node.rec.uuid;
        let from = epoch();
        let unit_address = |org: &mut Org, address_type, value: String, visibility| {
            let uuid = org.uuid(tags::ADDRESS);
            org.queue.push_back(Item::Address(AddressRec {
                uuid,
                from,
                owner_kind: "unit",
                owner: unit,
                address_type,
                value,
                visibility,
            }));
        };
        if !node.team {
            // The root has the municipality's general address, `post@…`.
            let local = match node.parent {
                None => "post".to_owned(),
                Some(_) => ascii(&node.rec.name, '-'),
            };
            let email = self.namer.email(&local);
            unit_address(self, "email", email, "public");
            if rng.percent(85) {
                unit_address(self, "phone", phone(&mut rng), "public");
            }
            if node.profile.institution {
                let ean = self.namer.ean();
                unit_address(self, "ean", ean, "public");
                if rng.percent(70) {
                    // P-numbers are issued upwards from 1000000000 and are still below
                    // 1100000000 (about 1.03 billion): 99xxxxxxxx is far outside every issued one.
                    let p = format!("99{:08}", rng.below(100_000_000));
                    unit_address(self, "pnumber", p, "internal");
                }
            }
            if node.parent.is_none() {
                let www = format!("https://www.{}", self.tree.domain);
                unit_address(self, "www", www, "public");
            }
        }
        for (number, aspects) in node.kle.iter().chain(node.profile.kle) {
            let uuid = self.uuid(tags::KLE);
            self.queue.push_back(Item::Kle(KleRec {
                uuid,
                from,
                unit,
                kle_number: number,
                aspects,
            }));
        }
        let vacant = node.depth >= 2 && rng.per_mille(35);
        let mut leader: Option<(Uuid, NaiveDate)> = None;
        let mut staff: Vec<(Uuid, NaiveDate)> = Vec::new();
        for k in 0..node.staff {
            let is_leader = k == 0 && !vacant;
            let title = if is_leader {
                node.leader()
            } else {
                *rng.weighted(node.profile.titles)
            };
            let hired = self.make_person(&mut rng, i, title, is_leader, None);
            if is_leader {
                leader = Some((hired.person.uuid, hired.engagements[0].from));
            } else {
                staff.push((hired.person.uuid, hired.person.from));
            }
            self.push_hired(hired);
        }
        self.seat(&mut rng, i, leader, &staff);
        let uuid = self.uuid(tags::MANAGER);
        self.queue.push_back(Item::Manager(ManagerRec {
            uuid,
            from: leader.map_or_else(|| month(rng.range(200, LAST_START)), |(_, f)| f),
            unit,
            person: leader.map(|(p, _)| p),
            manager_type: node.manager_type(),
            manager_level: format!("Niveau {}", node.depth + 1),
            responsibilities: node.responsibilities(),
        }));
    }

    /// An association of `person` from `from` to `to`, unless that interval is empty.
    fn associate(
        &mut self,
        person: Uuid,
        of: Member,
        association_type: &'static str,
        from: NaiveDate,
        to: Option<NaiveDate>,
    ) -> bool {
        if to.is_some_and(|to| to <= from) {
            return false;
        }
        let uuid = self.uuid(tags::ASSOCIATION);
        self.queue.push_back(Item::Association(AssociationRec {
            uuid,
            from,
            to,
            person,
            of,
            association_type,
        }));
        true
    }

    /// A term as AMR, TR or MED member for someone employed from `employed`: started after the
    /// person did (and mostly in the last ten years); one in five ended after two to four years.
    fn term(rng: &mut Rng, employed: NaiveDate) -> (NaiveDate, Option<NaiveDate>) {
        let from = month(rng.range(60, LAST_START)).max(employed);
        let to = rng
            .percent(20)
            .then(|| from.checked_add_months(Months::new(rng.range(24, 48))))
            .flatten()
            .filter(|to| *to <= month(LAST_START));
        (from, to)
    }

    /// Seats for unit `i`'s people: its leader chairs its MED committee and joins the leaders'
    /// network and its forvaltning's steering groups; an AMR and a TR are elected (and sit in the
    /// MED committee above, and the AMR in the AMR network); some staff join its forvaltning's
    /// projects, the first as project lead.
    fn seat(
        &mut self,
        rng: &mut Rng,
        i: usize,
        leader: Option<(Uuid, NaiveDate)>,
        staff: &[(Uuid, NaiveDate)],
    ) {
        let node = &self.tree.units[i];
        let (unit, depth, team, size) = (node.rec.uuid, node.depth, node.team, node.staff);
        let s = &self.structure;
        let chair = s.chairs[i];
        let committee = s.committee[i];
        let steering: Vec<(Uuid, NaiveDate, Option<NaiveDate>)> = s.steering[i]
            .iter()
            .map(|&g| (s.groups[g].uuid, s.groups[g].from, s.groups[g].to))
            .collect();
        let projects = s.projects[i].clone();
        let (amr_network, leader_network) = (
            s.groups[s.amr_network].uuid,
            s.groups[s.leader_network].uuid,
        );
        if let Some((person, employed)) = leader {
            if let Some((c, from)) = chair {
                self.associate(
                    person,
                    Member::Unit(c),
                    "MED-formand",
                    from.max(employed),
                    None,
                );
            }
            if depth <= 2 && !team {
                let network = Member::Group(leader_network);
                self.associate(person, network, "Netværksdeltager", employed, None);
            }
            for (g, from, to) in steering {
                let from = from.max(employed);
                self.associate(person, Member::Group(g), "Styregruppemedlem", from, to);
            }
        }
        if size >= 8 && staff.len() >= 2 && !team {
            let amr = rng.index(staff.len());
            let tr = (amr + 1 + rng.index(staff.len() - 1)) % staff.len();
            for (k, kind) in [
                (amr, "Arbejdsmiljørepræsentant"),
                (tr, "Tillidsrepræsentant"),
            ] {
                let (person, employed) = staff[k];
                let (from, to) = Org::term(rng, employed);
                self.associate(person, Member::Unit(unit), kind, from, to);
                if let Some((c, since)) = committee {
                    let members = self.committee_members.entry(c).or_default();
                    if *members < 14 {
                        *members += 1;
                        self.associate(person, Member::Unit(c), "MED-medlem", from.max(since), to);
                    }
                }
                if k == amr {
                    let network = Member::Group(amr_network);
                    self.associate(person, network, "Netværksdeltager", from, to);
                }
            }
        }
        // The committee the unit owns has elected staff members beside the AMR and TR.
        if let Some((c, since)) = chair
            && !staff.is_empty()
        {
            for _ in 0..rng.range(2, 4) {
                let (person, employed) = staff[rng.index(staff.len())];
                let (from, to) = Org::term(rng, employed);
                let members = self.committee_members.entry(c).or_default();
                if *members < 14 {
                    *members += 1;
                    self.associate(person, Member::Unit(c), "MED-medlem", from.max(since), to);
                }
            }
        }
        if projects.is_empty() {
            return;
        }
        for &(person, employed) in staff {
            if !rng.per_mille(60) {
                continue;
            }
            let g = projects[rng.index(projects.len())];
            let group = &self.structure.groups[g];
            let (uuid, from, to) = (group.uuid, group.from.max(employed), group.to);
            let lead = !self.project_leads.contains(&g);
            let kind = if lead {
                "Projektleder"
            } else {
                "Projektdeltager"
            };
            if self.associate(person, Member::Group(uuid), kind, from, to) && lead {
                self.project_leads.insert(g);
            }
        }
    }

    fn push_hired(&mut self, h: Hired) {
        self.queue.push_back(Item::Person(h.person));
        for e in h.engagements {
            self.queue.push_back(Item::Engagement(e));
        }
        for a in h.email.into_iter().chain(h.phone) {
            self.queue.push_back(Item::Address(a));
        }
        for it in h.itaccounts {
            self.queue.push_back(Item::ItAccount(it));
        }
    }

    /// A new person with their engagement in unit `i` (and sometimes a second one elsewhere),
    /// addresses and IT accounts. `start` fixes the start date (hires in a change stream).
    pub(crate) fn make_person(
        &mut self,
        rng: &mut Rng,
        i: usize,
        title: &'static str,
        leader: bool,
        start: Option<NaiveDate>,
    ) -> Hired {
        let node = &self.tree.units[i];
        let (profile, unit) = (node.profile, node.rec.uuid);
        let trainee = is_trainee(title);
        let from = match start {
            Some(d) => d,
            None if trainee => month(rng.range(TRAINEE_FIRST, LAST_START)),
            None => tenure_start(rng),
        };
        let terms = terms(rng, title, from, leader);
        let name = people::name(rng, profile.female);
        let (min_age, max_age) = if trainee { (20, 32) } else { (24, 66) };
        let birth = people::birth_date(rng, min_age, max_age, from);
        let employee = self.namer.employee_number(rng);
        let cpr = rng
            .percent(30)
            .then(|| people::cpr(rng, birth, name.female));
        // One in ten came from another post here: an earlier primary engagement, ended the day
        // this one began (so the person is older than the current engagement, and the history
        // has ended engagements, not only open ones).
        let months_in = (from.year() - 2007) * 12 + from.month0() as i32;
        let earlier =
            (start.is_none() && !leader && !trainee && months_in >= 24 && rng.percent(10)).then(
                || {
                    let others = self.groups.get(profile.key).map_or(&[][..], Vec::as_slice);
                    let other = if others.is_empty() {
                        i
                    } else {
                        others[rng.index(others.len())]
                    };
                    let t = *rng.weighted(profile.titles);
                    let kind = if is_trainee(t) {
                        "Elev"
                    } else {
                        "Månedslønnet, fuldtid"
                    };
                    let began = month(rng.range(0, months_in.unsigned_abs() - 12));
                    (self.tree.units[other].rec.uuid, t, kind, began)
                },
            );
        let person = PersonRec {
            uuid: self.uuid(tags::PERSON),
            from: earlier.map_or(from, |(_, _, _, began)| began),
            given_name: name.given.clone(),
            surname: name.surname.clone(),
            user_key: employee.to_string(),
            cpr,
        };
        let mut engagements = vec![EngagementRec {
            uuid: self.uuid(tags::ENGAGEMENT),
            from,
            to: terms.to,
            person: person.uuid,
            unit,
            job_title: title,
            engagement_type: terms.engagement_type,
            primary: true,
            user_key: format!("{employee}-1"),
        }];
        if let Some((unit, job_title, engagement_type, began)) = earlier {
            engagements.push(EngagementRec {
                uuid: self.uuid(tags::ENGAGEMENT),
                from: began,
                to: Some(from),
                person: person.uuid,
                unit,
                job_title,
                engagement_type,
                primary: true,
                user_key: format!("{employee}-0"),
            });
        }
        if start.is_none() && !leader && !trainee && rng.per_mille(40) {
            let others = self.groups.get(profile.key).map_or(&[][..], Vec::as_slice);
            if others.len() > 1 {
                let other = others[rng.index(others.len())];
                if other != i {
                    let second_from = from
                        .checked_add_months(Months::new(rng.range(0, 24)))
                        .unwrap_or(from)
                        .min(month(LAST_START));
                    let to = rng
                        .percent(50)
                        .then(|| month(rng.range(END_FIRST, END_LAST)));
                    engagements.push(EngagementRec {
                        uuid: self.uuid(tags::ENGAGEMENT),
                        from: second_from,
                        to,
                        person: person.uuid,
                        unit: self.tree.units[other].rec.uuid,
                        job_title: title,
                        engagement_type: "Timelønnet",
                        primary: false,
                        user_key: format!("{employee}-2"),
                    });
                }
            }
        }
        // The accounts serve the engagements they outlive: those open-ended from the start (a
        // fixed-term engagement's account would have to end with it).
        let served: Vec<Uuid> = engagements
            .iter()
            .filter(|e| e.from <= from && e.to.is_none())
            .map(|e| e.uuid)
            .collect();
        let mut email = None;
        let mut itaccounts = Vec::new();
        let mut phone_address = None;
        if start.is_some() || rng.percent(97) {
            let ad = self.namer.ad_id(&name);
            let external = self.uuid(tags::EXTERNAL_ID).to_string();
            let value = self.namer.person_email(&name);
            email = Some(AddressRec {
                uuid: self.uuid(tags::ADDRESS),
                from,
                owner_kind: "person",
                owner: person.uuid,
                address_type: "email",
                value,
                visibility: if rng.percent(70) {
                    "public"
                } else {
                    "internal"
                },
            });
            itaccounts.push(ItAccountRec {
                uuid: self.uuid(tags::ITACCOUNT),
                from,
                person: person.uuid,
                it_system: "Active Directory",
                user_id: ad.clone(),
                external_id: Some(external),
                engagements: served.clone(),
            });
            if let Some((system, share)) = profile.it_system
                && rng.percent(share)
            {
                itaccounts.push(ItAccountRec {
                    uuid: self.uuid(tags::ITACCOUNT),
                    from,
                    person: person.uuid,
                    it_system: system,
                    user_id: ad.to_uppercase(),
                    external_id: None,
                    engagements: served.clone(),
                });
            }
        }
        if rng.percent(15) {
            itaccounts.push(ItAccountRec {
                uuid: self.uuid(tags::ITACCOUNT),
                from,
                person: person.uuid,
                it_system: self.payroll,
                user_id: employee.to_string(),
                external_id: None,
                engagements: served.clone(),
            });
        }
        if rng.percent(25) {
            phone_address = Some(AddressRec {
                uuid: self.uuid(tags::ADDRESS),
                from,
                owner_kind: "person",
                owner: person.uuid,
                address_type: "phone",
                value: phone(rng),
                visibility: if rng.percent(85) {
                    "internal"
                } else {
                    "secret"
                },
            });
        }
        Hired {
            person,
            engagements,
            email,
            phone: phone_address,
            itaccounts,
            name,
        }
    }
}

impl Iterator for Org {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if let Some(&entry) = self.catalogue.get(self.next_class) {
            self.next_class += 1;
            return Some(Item::Class(ClassRec { entry }));
        }
        if let Some(node) = self.tree.units.get(self.next_unit) {
            self.next_unit += 1;
            return Some(Item::Unit(node.rec.clone()));
        }
        if let Some(rec) = self.structure.units.get(self.next_structure_unit) {
            self.next_structure_unit += 1;
            return Some(Item::Unit(rec.clone()));
        }
        if let Some(rec) = self.structure.groups.get(self.next_group) {
            self.next_group += 1;
            return Some(Item::Group(rec.clone()));
        }
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.next_staffed >= self.tree.units.len() {
                return None;
            }
            let i = self.next_staffed;
            self.next_staffed += 1;
            self.staff_unit(i);
        }
    }
}
