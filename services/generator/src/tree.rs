//! The unit hierarchy of one municipality: the root, Borgmesterens Afdeling and the forvaltninger,
//! their afdelinger and centre, and the institutions below them, scaled by [`Size`].
//!
//! The tree is built up front (a few thousand units at most) and stored parents-first, so its
//! order is already one the writer accepts.

use std::collections::HashSet;

use chrono::NaiveDate;

use crate::data::{
    CARE_NAMES, CARE_PREFIXES, CULTURE_HOUSES, DAYCARE_NAMES, DAYCARE_PREFIXES, HOME_NAMES,
    HOME_PREFIXES, KOEBENHAVN_BYDELE, SCHOOL_STEMS, TOWN_ENDINGS, TOWN_STEMS,
};
use crate::people::ascii;
use crate::profiles::*;
use crate::records::UnitRec;
use crate::rng::{Rng, UuidSource};
use crate::{Options, Size};

/// Every unit is valid from the structural reform (kommunalreformen), 1 January 2007.
pub(crate) fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2007, 1, 1).unwrap_or(NaiveDate::MIN)
}

pub(crate) const KLE_ANSVARLIG: &[&str] = &["ansvarlig"];

/// One unit with what the generator needs to staff it.
#[derive(Debug, Clone)]
pub(crate) struct UnitNode {
    pub rec: UnitRec,
    pub parent: Option<usize>,
    pub depth: u8,
    pub profile: &'static Profile,
    /// A team (or ward) is led by a Teamleder, whatever its profile's usual leader.
    pub team: bool,
    /// People whose primary engagement is here, the leader included.
    pub staff: u32,
    /// KLE numbers beside the profile's.
    pub kle: &'static [(&'static str, &'static [&'static str])],
}

impl UnitNode {
    pub(crate) fn leader(&self) -> &'static str {
        if self.team {
            "Teamleder"
        } else {
            self.profile.leader
        }
    }

    pub(crate) fn manager_type(&self) -> &'static str {
        if self.team {
            "Teamleder"
        } else {
            self.profile.manager_type
        }
    }

    pub(crate) fn responsibilities(&self) -> &'static [&'static str] {
        if self.team {
            TEAM
        } else {
            self.profile.responsibilities
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub units: Vec<UnitNode>,
    /// The municipality's mail domain, e.g. `aarhus.dk`.
    pub domain: String,
}

struct Builder<'a> {
    size: Size,
    rng: Rng,
    uuids: &'a UuidSource,
    units: Vec<UnitNode>,
    names: HashSet<String>,
    towns: Vec<String>,
    name: &'static str,
    governance: Governance,
}

/// How the municipality's administration is cut at the top, which differs between the 98: the
/// magistrate municipalities (Aarhus, Odense, Aalborg) have magistratsafdelinger, København and
/// Frederiksberg and some others forvaltninger, most a centre organisation (`Center for …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Governance {
    Magistrat,
    Forvaltninger,
    Centre,
}

impl Governance {
    pub(crate) fn of(code: u16) -> Governance {
        match code {
            751 | 461 | 851 => Governance::Magistrat,
            101 | 147 => Governance::Forvaltninger,
            _ if code.is_multiple_of(3) => Governance::Forvaltninger,
            _ => Governance::Centre,
        }
    }

    /// The unit type of the top units below the root.
    fn unit_type(self) -> &'static str {
        match self {
            Governance::Magistrat => "Magistratsafdeling",
            Governance::Forvaltninger => "Forvaltning",
            Governance::Centre => "Center",
        }
    }

    /// The name of a top unit for an area (`Børn og Unge`).
    fn name(self, area: &str) -> String {
        match (self, area) {
            (Governance::Centre, "Borgmesterens Afdeling") => {
                "Center for Økonomi og Styring".into()
            }
            (Governance::Centre, _) => format!("Center for {area}"),
            _ => area.to_owned(),
        }
    }
}

/// Tags of the UUID counters, one per kind.
pub(crate) mod tags {
    pub const UNIT: u64 = 1;
    pub const PERSON: u64 = 2;
    pub const ENGAGEMENT: u64 = 3;
    pub const MANAGER: u64 = 4;
    pub const ADDRESS: u64 = 5;
    pub const KLE: u64 = 6;
    pub const ITACCOUNT: u64 = 7;
    pub const EXTERNAL_ID: u64 = 8;
    pub const GROUP: u64 = 9;
    pub const ASSOCIATION: u64 = 10;
}

impl<'a> Builder<'a> {
    /// A size-dependent number.
    fn n(&self, small: u32, medium: u32, large: u32) -> u32 {
        match self.size {
            Size::Small => small,
            Size::Medium => medium,
            Size::Large => large,
        }
    }

    /// A random staff count: `lo..=hi` for the current size, picked by [`Builder::n`]-style triples.
    fn staff(&mut self, range: [(u32, u32); 3]) -> u32 {
        let (lo, hi) = match self.size {
            Size::Small => range[0],
            Size::Medium => range[1],
            Size::Large => range[2],
        };
        self.rng.range(lo, hi)
    }

    fn add(
        &mut self,
        parent: Option<usize>,
        name: String,
        unit_type: &'static str,
        profile: &'static Profile,
        staff: u32,
    ) -> usize {
        let index = self.units.len();
        self.names.insert(name.clone());
        let depth = parent.map_or(0, |p| self.units[p].depth + 1);
        self.units.push(UnitNode {
            rec: UnitRec {
                uuid: self.uuids.uuid(tags::UNIT, index as u64),
                from: epoch(),
                name,
                user_key: format!("{}", 1001 + index),
                unit_type,
                unit_level: Some(format!("Niveau {}", depth + 1)),
                hierarchy: None,
                parent: parent.map(|p| self.units[p].rec.uuid),
            },
            parent,
            depth,
            profile,
            team: false,
            staff,
            kle: &[],
        });
        index
    }

    fn team(
        &mut self,
        parent: usize,
        name: String,
        profile: &'static Profile,
        staff: u32,
    ) -> usize {
        let i = self.add(Some(parent), name, "Team", profile, staff);
        self.units[i].team = true;
        i
    }

    /// A name not used yet in this municipality, drawn by `draw` (numbered if draws keep clashing).
    fn fresh(&mut self, mut draw: impl FnMut(&mut Rng) -> String) -> String {
        let mut last = String::new();
        for _ in 0..60 {
            let candidate = draw(&mut self.rng);
            if !self.names.contains(&candidate) {
                return candidate;
            }
            last = candidate;
        }
        (2..)
            .map(|n| format!("{last} {n}"))
            .find(|c| !self.names.contains(c))
            .unwrap_or(last)
    }

    fn school_name(&mut self) -> String {
        let towns = self.towns.clone();
        self.fresh(|rng| {
            if rng.percent(80) {
                let stem = rng.pick(SCHOOL_STEMS);
                if stem.ends_with(' ') {
                    format!("{stem}Skole")
                } else {
                    format!("{stem}skolen")
                }
            } else {
                format!("{} Skole", rng.pick(&towns))
            }
        })
    }

    fn daycare_name(&mut self) -> String {
        self.fresh(|rng| {
            format!(
                "{} {}",
                rng.weighted(DAYCARE_PREFIXES),
                rng.pick(DAYCARE_NAMES)
            )
        })
    }

    fn care_name(&mut self) -> String {
        self.fresh(|rng| format!("{} {}", rng.weighted(CARE_PREFIXES), rng.pick(CARE_NAMES)))
    }

    fn home_name(&mut self) -> String {
        self.fresh(|rng| format!("{} {}", rng.weighted(HOME_PREFIXES), rng.pick(HOME_NAMES)))
    }

    fn town(&self, i: usize) -> &str {
        &self.towns[i % self.towns.len()]
    }

    /// Afdelinger with optional teams below each (large only).
    fn departments(
        &mut self,
        parent: usize,
        departments: &[(&str, &'static Profile, &[&str])],
        staff: [(u32, u32); 3],
        team_staff: (u32, u32),
    ) {
        for (name, profile, teams) in departments {
            let head = self.staff(staff);
            let d = self.add(Some(parent), (*name).to_owned(), "Afdeling", profile, head);
            if self.size == Size::Large {
                for team in *teams {
                    let s = self.rng.range(team_staff.0, team_staff.1);
                    self.team(d, format!("{name}, {team}"), profile, s);
                }
            }
        }
    }
}

/// The municipality's mail domain: its name in ASCII, `.dk`.
pub(crate) fn domain(name: &str) -> String {
    format!("{}.dk", ascii(name, '-'))
}

/// The root unit's name: `<Name> Kommune`, with København's and Bornholm's own forms.
pub(crate) fn root_name(code: u16, name: &str) -> String {
    match code {
        101 => "Københavns Kommune".to_owned(),
        400 => "Bornholms Regionskommune".to_owned(),
        _ => format!("{name} Kommune"),
    }
}

fn towns(rng: &mut Rng, code: u16, name: &str, count: usize) -> Vec<String> {
    if code == 101 {
        return KOEBENHAVN_BYDELE.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut out = vec![name.to_owned()];
    let mut tries = 0;
    while out.len() < count && tries < 10_000 {
        tries += 1;
        let stem = rng.pick(TOWN_STEMS);
        let ending = rng.pick(TOWN_ENDINGS);
        let town = format!("{stem}{ending}");
        if !out.contains(&town) {
            out.push(town);
        }
    }
    out
}

pub(crate) fn build(opts: &Options, key: u64, uuids: &UuidSource) -> Tree {
    let name = opts.kommune.name();
    let mut rng = Rng::new(&[key, crate::rng::tag("tree")]);
    let towns = towns(&mut rng, opts.kommune.code(), name, 14);
    let mut b = Builder {
        size: opts.size,
        rng,
        uuids,
        units: Vec::new(),
        names: HashSet::new(),
        towns,
        name,
        governance: Governance::of(opts.kommune.code()),
    };
    let staff = b.staff([(2, 3), (3, 4), (4, 6)]);
    let root = b.add(
        None,
        root_name(opts.kommune.code(), name),
        "Kommune",
        &ROOT,
        staff,
    );
    mayor(&mut b, root);
    children_and_youth(&mut b, root);
    health_and_care(&mut b, root);
    technical(&mut b, root);
    culture(&mut b, root);
    employment(&mut b, root);
    social(&mut b, root);
    Tree {
        units: b.units,
        domain: domain(name),
    }
}

fn directorate(
    b: &mut Builder<'_>,
    root: usize,
    name: &str,
    kle: &'static [(&'static str, &'static [&'static str])],
) -> usize {
    let staff = b.staff([(1, 2), (3, 6), (6, 10)]);
    let governance = b.governance;
    let d = b.add(
        Some(root),
        governance.name(name),
        governance.unit_type(),
        &DIRECTORATE,
        staff,
    );
    b.units[d].kle = kle;
    d
}

fn secretariat(b: &mut Builder<'_>, parent: usize, area: &str) {
    if b.size == Size::Small {
        return;
    }
    let staff = b.staff([(0, 0), (6, 12), (10, 16)]);
    let s = b.add(
        Some(parent),
        format!("Sekretariat for {area}"),
        "Afdeling",
        &SECRETARIAT,
        staff,
    );
    if b.size == Size::Large {
        for team in [
            "Økonomi og Styring",
            "Politisk Betjening",
            "Analyse og Udvikling",
        ] {
            let n = b.rng.range(10, 16);
            b.team(s, format!("{area}, {team}"), &SECRETARIAT, n);
        }
    }
}

fn mayor(b: &mut Builder<'_>, root: usize) {
    let d = directorate(b, root, "Borgmesterens Afdeling", &[("00", KLE_ANSVARLIG)]);
    if b.size == Size::Small {
        b.departments(
            d,
            &[
                ("Økonomi og Personale", &ECONOMY, &[]),
                ("IT og Digitalisering", &IT, &[]),
                ("Sekretariat og Jura", &LAW, &[]),
            ],
            [(3, 6), (0, 0), (0, 0)],
            (0, 0),
        );
        return;
    }
    b.departments(
        d,
        &[
            (
                "Økonomi og Analyse",
                &ECONOMY,
                &[
                    "Budget",
                    "Regnskab",
                    "Økonomisk Analyse",
                    "Finans og Opkrævning",
                ],
            ),
            (
                "HR og Personale",
                &HR,
                &[
                    "Løn",
                    "Rekruttering",
                    "Arbejdsmiljø",
                    "Ledelse og Organisation",
                ],
            ),
            (
                "Digitalisering og IT",
                &IT,
                &[
                    "IT-drift",
                    "Servicedesk",
                    "Digital Udvikling",
                    "Informationssikkerhed",
                    "Data og Integrationer",
                ],
            ),
            (
                "Jura og Politisk Sekretariat",
                &LAW,
                &[
                    "Juridisk Team",
                    "Politisk Betjening",
                    "Klager og Aktindsigt",
                ],
            ),
            (
                "Kommunikation",
                &COMMUNICATION,
                &["Presse", "Digital Kommunikation"],
            ),
            (
                "Indkøb og Udbud",
                &PROCUREMENT,
                &["Udbud", "Kontraktstyring"],
            ),
        ],
        [(0, 0), (10, 24), (4, 8)],
        (10, 22),
    );
}

fn children_and_youth(b: &mut Builder<'_>, root: usize) {
    let area = "Børn og Unge";
    let d = directorate(
        b,
        root,
        area,
        &[("17", KLE_ANSVARLIG), ("28", KLE_ANSVARLIG)],
    );
    secretariat(b, d, area);

    // Pædagogisk Psykologisk Rådgivning, Sundhedsplejen, Tandplejen.
    let staff = b.staff([(2, 3), (20, 30), (4, 6)]);
    let ppr = b.add(
        Some(d),
        "Pædagogisk Psykologisk Rådgivning".into(),
        "Afdeling",
        &PPR,
        staff,
    );
    let staff = b.staff([(2, 2), (12, 18), (4, 6)]);
    let hv = b.add(
        Some(d),
        "Sundhedsplejen".into(),
        "Afdeling",
        &HEALTH_VISITORS,
        staff,
    );
    if b.size == Size::Large {
        for i in 0..4 {
            let t = b.town(i).to_owned();
            let n = b.rng.range(20, 30);
            b.team(ppr, format!("PPR {t}"), &PPR, n);
            let n = b.rng.range(18, 28);
            b.team(hv, format!("Sundhedsplejen {t}"), &HEALTH_VISITORS, n);
        }
    }
    let staff = b.staff([(4, 6), (3, 4), (4, 6)]);
    let dental = b.add(Some(d), "Tandplejen".into(), "Center", &DENTAL, staff);
    let clinics = b.n(0, 3, 12);
    for i in 0..clinics {
        let t = b.town(i as usize).to_owned();
        let n = b.staff([(0, 0), (10, 15), (12, 20)]);
        b.add(
            Some(dental),
            format!("Tandklinik {t}"),
            "Institution",
            &DENTAL,
            n,
        );
    }
    if b.size != Size::Small {
        let staff = b.staff([(0, 0), (15, 25), (8, 12)]);
        let youth = b.add(
            Some(d),
            format!("{} Ungdomsskole", b.name),
            "Institution",
            &YOUTH_SCHOOL,
            staff,
        );
        if b.size == Size::Large {
            for i in 0..6 {
                let t = b.town(i).to_owned();
                let n = b.rng.range(10, 18);
                b.add(
                    Some(youth),
                    format!("Ungdomsklubben {t}"),
                    "Institution",
                    &YOUTH_SCHOOL,
                    n,
                );
            }
        }
    }

    schools(b, d);
    daycare(b, d);
    if b.size == Size::Large {
        leisure_and_special(b, d);
    }
}

/// The large organisation's fritidscentre (fritidshjem and klub) and specialskoler.
fn leisure_and_special(b: &mut Builder<'_>, d: usize) {
    let staff = b.rng.range(4, 6);
    let area = b.add(
        Some(d),
        "Fritid og Klubber".into(),
        "Afdeling",
        &AREA,
        staff,
    );
    for district in 0..10 {
        let t = b.town(district).to_owned();
        let staff = b.rng.range(2, 3);
        let o = b.add(
            Some(area),
            format!("Fritidsområde {t}"),
            "Område",
            &AREA,
            staff,
        );
        for _ in 0..6 {
            let name = b.fresh(|rng| format!("Fritidscenter {}", rng.pick(DAYCARE_NAMES)));
            let n = b.rng.range(3, 6);
            let f = b.add(Some(o), name.clone(), "Institution", &LEISURE, n);
            for part in ["Fritidshjem", "Klub"] {
                let n = b.rng.range(10, 18);
                b.team(f, format!("{name}, {part}"), &LEISURE, n);
            }
        }
    }
    let staff = b.rng.range(3, 5);
    let special = b.add(
        Some(d),
        "Specialundervisning".into(),
        "Afdeling",
        &AREA,
        staff,
    );
    for _ in 0..8 {
        let name = b.school_name();
        let s = b.add(Some(special), name.clone(), "Institution", &SCHOOL, 2);
        for part in ["Indskoling", "Mellemtrin", "Udskoling", "SFO"] {
            let n = b.rng.range(14, 22);
            b.team(s, format!("{name}, {part}"), &GRADE_TEAM, n);
        }
    }
}

fn schools(b: &mut Builder<'_>, d: usize) {
    match b.size {
        Size::Small => {
            let staff = b.rng.range(26, 32);
            let name = format!("{} Skole", b.name);
            let s = b.add(Some(d), name.clone(), "Institution", &SCHOOL, staff);
            let n = b.rng.range(5, 7);
            b.add(Some(s), format!("{name}s SFO"), "Institution", &SFO, n);
        }
        Size::Medium => {
            let staff = b.rng.range(3, 5);
            let area = b.add(Some(d), "Skoler".into(), "Afdeling", &AREA, staff);
            for _ in 0..22 {
                let name = b.school_name();
                let staff = b.rng.range(38, 66);
                let s = b.add(Some(area), name.clone(), "Institution", &SCHOOL, staff);
                let n = b.rng.range(8, 18);
                b.add(Some(s), format!("SFO {name}"), "Institution", &SFO, n);
            }
        }
        Size::Large => {
            let staff = b.rng.range(6, 10);
            let area = b.add(Some(d), "Skoler".into(), "Afdeling", &AREA, staff);
            for district in 0..6 {
                let t = b.town(district).to_owned();
                let staff = b.rng.range(3, 5);
                let o = b.add(
                    Some(area),
                    format!("Skoleområde {t}"),
                    "Område",
                    &AREA,
                    staff,
                );
                for _ in 0..14 {
                    let name = b.school_name();
                    let s = b.add(Some(o), name.clone(), "Institution", &SCHOOL, 1);
                    let n = b.rng.range(5, 9);
                    b.team(s, format!("{name}, Administration"), &SCHOOL_OFFICE, n);
                    for part in ["Indskoling", "Mellemtrin", "Udskoling"] {
                        let n = b.rng.range(20, 30);
                        b.team(s, format!("{name}, {part}"), &GRADE_TEAM, n);
                    }
                    let n = b.rng.range(18, 32);
                    b.add(Some(s), format!("SFO {name}"), "Institution", &SFO, n);
                }
            }
        }
    }
}

fn daycare(b: &mut Builder<'_>, d: usize) {
    match b.size {
        Size::Small => {
            let name = b.daycare_name();
            let n = b.rng.range(14, 18);
            b.add(Some(d), name, "Institution", &DAYCARE, n);
            let n = b.rng.range(3, 5);
            b.add(Some(d), "Dagplejen".into(), "Institution", &DAGPLEJE, n);
        }
        Size::Medium => {
            let staff = b.rng.range(3, 5);
            let area = b.add(Some(d), "Dagtilbud".into(), "Afdeling", &AREA, staff);
            for i in 0..7 {
                let t = b.town(i).to_owned();
                let staff = b.rng.range(2, 4);
                let o = b.add(
                    Some(area),
                    format!("Dagtilbud {t}"),
                    "Område",
                    &DAYCARE_AREA,
                    staff,
                );
                for _ in 0..b.rng.range(5, 8) {
                    let name = b.daycare_name();
                    let n = b.rng.range(12, 26);
                    b.add(Some(o), name, "Institution", &DAYCARE, n);
                }
            }
            let n = b.rng.range(40, 60);
            b.add(Some(area), "Dagplejen".into(), "Institution", &DAGPLEJE, n);
        }
        Size::Large => {
            let staff = b.rng.range(6, 10);
            let area = b.add(Some(d), "Dagtilbud".into(), "Afdeling", &AREA, staff);
            for district in 0..10 {
                let t = b.town(district).to_owned();
                let staff = b.rng.range(3, 6);
                let o = b.add(
                    Some(area),
                    format!("Dagtilbud {t}"),
                    "Område",
                    &DAYCARE_AREA,
                    staff,
                );
                for part in ["Nord", "Syd", "Øst", "Vest", "Midt"] {
                    let staff = b.rng.range(1, 3);
                    let k = b.add(
                        Some(o),
                        format!("Klynge {t} {part}"),
                        "Område",
                        &DAYCARE_AREA,
                        staff,
                    );
                    for _ in 0..b.rng.range(9, 10) {
                        let name = b.daycare_name();
                        let n = b.rng.range(4, 8);
                        let inst = b.add(Some(k), name.clone(), "Institution", &DAYCARE, n);
                        for group in ["Vuggestuen", "Børnehaven"] {
                            let n = b.rng.range(8, 14);
                            b.team(inst, format!("{name}, {group}"), &DAYCARE_GROUP, n);
                        }
                    }
                }
            }
            let staff = b.rng.range(3, 5);
            let dp = b.add(Some(area), "Dagplejen".into(), "Center", &DAGPLEJE, staff);
            for i in 0..5 {
                let t = b.town(i).to_owned();
                let n = b.rng.range(30, 50);
                b.add(
                    Some(dp),
                    format!("Dagplejen {t}"),
                    "Institution",
                    &DAGPLEJE,
                    n,
                );
            }
        }
    }
}

fn health_and_care(b: &mut Builder<'_>, root: usize) {
    let area = "Sundhed og Omsorg";
    let d = directorate(
        b,
        root,
        area,
        &[("27", KLE_ANSVARLIG), ("29", KLE_ANSVARLIG)],
    );
    secretariat(b, d, area);
    let staff = b.staff([(3, 5), (20, 30), (6, 10)]);
    let m = b.add(
        Some(d),
        "Myndighed og Visitation".into(),
        "Afdeling",
        &ASSESSMENT,
        staff,
    );
    if b.size == Size::Large {
        for team in [
            "Hjemmehjælp",
            "Hjælpemidler",
            "Boliger",
            "Sygehusvisitation",
        ] {
            let n = b.rng.range(20, 32);
            b.team(m, format!("Visitation, {team}"), &ASSESSMENT, n);
        }
    }

    // Hjemmepleje
    match b.size {
        Size::Small => {
            let n = b.rng.range(20, 26);
            b.add(Some(d), "Hjemmeplejen".into(), "Afdeling", &HOME_CARE, n);
        }
        size => {
            let staff = b.rng.range(3, 5);
            let c = b.add(Some(d), "Hjemmeplejen".into(), "Center", &AREA, staff);
            let districts = if size == Size::Medium { 6 } else { 16 };
            for i in 0..districts {
                let t = b.town(i).to_owned();
                if size == Size::Medium {
                    let n = b.rng.range(40, 66);
                    b.add(
                        Some(c),
                        format!("Hjemmeplejen {t}"),
                        "Afdeling",
                        &HOME_CARE,
                        n,
                    );
                } else {
                    let n = b.rng.range(4, 8);
                    let name = if i < b.towns.len() {
                        format!("Hjemmeplejen {t}")
                    } else {
                        format!("Hjemmeplejen {t} {}", i / b.towns.len() + 1)
                    };
                    let h = b.add(Some(c), name.clone(), "Afdeling", &HOME_CARE, n);
                    for team in ["Team Dag 1", "Team Dag 2", "Team Aften", "Team Nat"] {
                        let n = b.rng.range(26, 40);
                        b.team(h, format!("{name}, {team}"), &HOME_CARE_TEAM, n);
                    }
                }
            }
        }
    }

    // Sygepleje
    let n = b.staff([(4, 6), (40, 60), (4, 6)]);
    let s = b.add(Some(d), "Sygeplejen".into(), "Afdeling", &NURSING, n);
    if b.size == Size::Large {
        for i in 0..8 {
            let t = b.town(i).to_owned();
            let n = b.rng.range(25, 40);
            b.add(Some(s), format!("Sygeplejen {t}"), "Afdeling", &NURSING, n);
        }
    }

    // Plejecentre
    match b.size {
        Size::Small => {
            let name = b.care_name();
            let n = b.rng.range(32, 40);
            b.add(Some(d), name, "Institution", &CARE_HOME, n);
        }
        size => {
            let staff = b.rng.range(3, 5);
            let c = b.add(Some(d), "Plejecentre".into(), "Center", &AREA, staff);
            let homes = if size == Size::Medium { 13 } else { 52 };
            for _ in 0..homes {
                let name = b.care_name();
                if size == Size::Medium {
                    let n = b.rng.range(45, 85);
                    b.add(Some(c), name, "Institution", &CARE_HOME, n);
                } else {
                    let n = b.rng.range(6, 10);
                    let p = b.add(Some(c), name.clone(), "Institution", &CARE_HOME, n);
                    for ward in ["Afsnit A", "Afsnit B", "Afsnit C", "Afsnit D"] {
                        let n = b.rng.range(22, 34);
                        b.team(p, format!("{name}, {ward}"), &CARE_WARD, n);
                    }
                }
            }
        }
    }

    let n = b.staff([(3, 5), (30, 45), (6, 10)]);
    let r = b.add(
        Some(d),
        "Træning og Rehabilitering".into(),
        "Afdeling",
        &REHAB,
        n,
    );
    if b.size == Size::Large {
        for i in 0..4 {
            let t = b.town(i).to_owned();
            let n = b.rng.range(25, 40);
            b.add(
                Some(r),
                format!("Træningscenter {t}"),
                "Institution",
                &REHAB,
                n,
            );
        }
    }
    if b.size != Size::Small {
        let n = b.staff([(0, 0), (20, 30), (70, 95)]);
        b.add(
            Some(d),
            "Centralkøkkenet".into(),
            "Institution",
            &KITCHEN,
            n,
        );
        let n = b.staff([(0, 0), (12, 20), (6, 10)]);
        let h = b.add(
            Some(d),
            "Sundhedscentret".into(),
            "Institution",
            &HEALTH_CENTRE,
            n,
        );
        if b.size == Size::Large {
            for i in 0..3 {
                let t = b.town(i).to_owned();
                let n = b.rng.range(20, 35);
                b.add(
                    Some(h),
                    format!("Sundhedshus {t}"),
                    "Institution",
                    &HEALTH_CENTRE,
                    n,
                );
            }
        }
    }
}

fn technical(b: &mut Builder<'_>, root: usize) {
    let area = "Teknik og Miljø";
    let d = directorate(
        b,
        root,
        area,
        &[
            ("01", KLE_ANSVARLIG),
            ("05", KLE_ANSVARLIG),
            ("09", KLE_ANSVARLIG),
        ],
    );
    secretariat(b, d, area);
    if b.size == Size::Small {
        let n = b.rng.range(4, 6);
        b.add(
            Some(d),
            "Byg, Plan og Miljø".into(),
            "Afdeling",
            &TECHNICAL,
            n,
        );
        let n = b.rng.range(7, 10);
        b.add(
            Some(d),
            "Materielgården".into(),
            "Institution",
            &OPERATIONS,
            n,
        );
        return;
    }
    b.departments(
        d,
        &[
            (
                "Byggeri og Plan",
                &TECHNICAL,
                &["Byggesager", "Lokalplaner", "Byfornyelse", "Kort og GIS"],
            ),
            (
                "Natur og Miljø",
                &ENVIRONMENT,
                &["Jord og Grundvand", "Virksomheder", "Natur og Vandløb"],
            ),
            (
                "Vej og Trafik",
                &ROADS,
                &["Trafikplanlægning", "Vejanlæg", "Parkering"],
            ),
            (
                "Kommunale Ejendomme",
                &PROPERTY,
                &[
                    "Drift og Vedligehold",
                    "Energi",
                    "Byggeprojekter",
                    "Rengøring",
                ],
            ),
        ],
        [(0, 0), (16, 32), (5, 8)],
        (12, 24),
    );
    let n = b.staff([(0, 0), (50, 70), (6, 10)]);
    let o = b.add(Some(d), "Vej og Park".into(), "Institution", &OPERATIONS, n);
    if b.size == Size::Large {
        for i in 0..6 {
            let t = b.town(i).to_owned();
            let n = b.rng.range(30, 50);
            b.add(
                Some(o),
                format!("Driftsgården {t}"),
                "Institution",
                &OPERATIONS,
                n,
            );
        }
    }
}

fn culture(b: &mut Builder<'_>, root: usize) {
    let area = "Kultur og Borgerservice";
    let d = directorate(
        b,
        root,
        area,
        &[
            ("20", KLE_ANSVARLIG),
            ("21", KLE_ANSVARLIG),
            ("23", KLE_ANSVARLIG),
        ],
    );
    secretariat(b, d, area);
    let n = b.staff([(3, 5), (25, 35), (6, 10)]);
    let bs = b.add(
        Some(d),
        "Borgerservice".into(),
        "Afdeling",
        &CITIZEN_SERVICE,
        n,
    );
    if b.size == Size::Large {
        for i in 0..6 {
            let t = b.town(i).to_owned();
            let n = b.rng.range(22, 36);
            b.add(
                Some(bs),
                format!("Borgerservice {t}"),
                "Afdeling",
                &CITIZEN_SERVICE,
                n,
            );
        }
    }
    if b.size == Size::Small {
        let n = b.rng.range(2, 4);
        b.add(
            Some(d),
            format!("{} Bibliotek", b.name),
            "Institution",
            &LIBRARY,
            n,
        );
        let n = b.rng.range(2, 3);
        b.add(Some(d), "Kultur og Fritid".into(), "Afdeling", &CULTURE, n);
        return;
    }
    let large = b.size == Size::Large;
    let n = b.rng.range(3, 5);
    let libs = b.add(Some(d), "Bibliotekerne".into(), "Center", &AREA, n);
    let n = if large {
        b.rng.range(60, 90)
    } else {
        b.rng.range(25, 35)
    };
    b.add(
        Some(libs),
        "Hovedbiblioteket".into(),
        "Institution",
        &LIBRARY,
        n,
    );
    let branches = if large { 22 } else { 5 };
    for i in 1..=branches {
        let t = b.town(i).to_owned();
        let name = if i < b.towns.len() {
            format!("{t} Bibliotek")
        } else {
            format!("{t} Bibliotek {}", i / b.towns.len() + 1)
        };
        let n = if large {
            b.rng.range(8, 16)
        } else {
            b.rng.range(4, 10)
        };
        b.add(Some(libs), name, "Institution", &LIBRARY, n);
    }
    let n = b.rng.range(5, 8);
    let kf = b.add(Some(d), "Kultur og Fritid".into(), "Afdeling", &AREA, n);
    let n = if large {
        b.rng.range(80, 120)
    } else {
        b.rng.range(20, 35)
    };
    b.add(
        Some(kf),
        format!("{} Musikskole", b.name),
        "Institution",
        &MUSIC_SCHOOL,
        n,
    );
    let houses = if large { 10 } else { 2 };
    for i in 0..houses {
        let t = b.town(i).to_owned();
        let house = CULTURE_HOUSES[i % CULTURE_HOUSES.len()];
        let n = b.rng.range(8, 18);
        b.add(Some(kf), format!("{house} {t}"), "Institution", &CULTURE, n);
    }
    let halls = if large { 6 } else { 1 };
    for i in 0..halls {
        let t = b.town(i).to_owned();
        let n = b.rng.range(18, 32);
        b.add(
            Some(kf),
            format!("Idrætscenter {t}"),
            "Institution",
            &SPORTS,
            n,
        );
    }
    let n = if large {
        b.rng.range(35, 50)
    } else {
        b.rng.range(8, 15)
    };
    b.add(
        Some(kf),
        format!("{} Museum", b.name),
        "Institution",
        &MUSEUM,
        n,
    );
}

fn employment(b: &mut Builder<'_>, root: usize) {
    let area = "Beskæftigelse";
    let d = directorate(
        b,
        root,
        area,
        &[("15", KLE_ANSVARLIG), ("32", KLE_ANSVARLIG)],
    );
    let teams = [
        "Virksomhedsservice",
        "Sygedagpenge og Fleksjob",
        "Unge og Uddannelse",
        "Integration",
        "Job og Aktivering",
        "Ressourceforløb",
    ];
    match b.size {
        Size::Small => {
            let n = b.rng.range(6, 9);
            b.add(
                Some(d),
                format!("Jobcenter {}", b.name),
                "Center",
                &JOBCENTRE,
                n,
            );
        }
        Size::Medium => {
            secretariat(b, d, area);
            let n = b.rng.range(4, 6);
            let name = format!("Jobcenter {}", b.name);
            let j = b.add(Some(d), name.clone(), "Center", &JOBCENTRE, n);
            for team in teams {
                let n = b.rng.range(16, 36);
                b.team(j, format!("{name}, {team}"), &JOB_TEAM, n);
            }
            let n = b.rng.range(20, 35);
            b.add(Some(d), "Ydelsesservice".into(), "Afdeling", &BENEFITS, n);
        }
        Size::Large => {
            secretariat(b, d, area);
            for part in ["Nord", "Syd", "Øst", "Vest", "City"] {
                let n = b.rng.range(4, 6);
                let name = format!("Jobcenter {} {part}", b.name);
                let j = b.add(Some(d), name.clone(), "Center", &JOBCENTRE, n);
                for team in teams {
                    let n = b.rng.range(22, 40);
                    b.team(j, format!("{name}, {team}"), &JOB_TEAM, n);
                }
            }
            let n = b.rng.range(10, 15);
            let y = b.add(Some(d), "Ydelsescentret".into(), "Center", &BENEFITS, n);
            for team in [
                "Kontanthjælp",
                "Sygedagpenge",
                "Boligstøtte og Pension",
                "Kontrol",
            ] {
                let n = b.rng.range(25, 40);
                b.team(y, format!("Ydelsescentret, {team}"), &BENEFITS, n);
            }
        }
    }
}

fn social(b: &mut Builder<'_>, root: usize) {
    let area = "Sociale Forhold";
    let d = directorate(b, root, area, &[("27", KLE_ANSVARLIG)]);
    secretariat(b, d, area);
    match b.size {
        Size::Small => {
            let n = b.rng.range(4, 6);
            b.add(Some(d), "Familieafdelingen".into(), "Afdeling", &FAMILY, n);
            let name = b.home_name();
            let n = b.rng.range(10, 14);
            b.add(Some(d), name, "Institution", &RESIDENTIAL, n);
            return;
        }
        Size::Medium => {
            let n = b.rng.range(5, 8);
            let f = b.add(
                Some(d),
                "Børne- og Familierådgivningen".into(),
                "Afdeling",
                &FAMILY,
                n,
            );
            for team in ["Familierådgivning", "Børnehandicap", "Ungeteamet"] {
                let n = b.rng.range(12, 22);
                b.team(
                    f,
                    format!("Børne- og Familierådgivningen, {team}"),
                    &FAMILY_TEAM,
                    n,
                );
            }
        }
        Size::Large => {
            for i in 0..5 {
                let t = b.town(i).to_owned();
                let n = b.rng.range(4, 8);
                let name = format!("Børnefamiliecenter {t}");
                let f = b.add(Some(d), name.clone(), "Center", &FAMILY, n);
                for team in ["Familierådgivning", "Børnehandicap", "Ungeteamet"] {
                    let n = b.rng.range(16, 26);
                    b.team(f, format!("{name}, {team}"), &FAMILY_TEAM, n);
                }
            }
        }
    }
    let large = b.size == Size::Large;
    let n = b.staff([(0, 0), (15, 25), (6, 10)]);
    let v = b.add(
        Some(d),
        "Voksenhandicap og Psykiatri".into(),
        "Afdeling",
        &ADULT_SERVICES,
        n,
    );
    if large {
        for team in ["Handicap", "Socialpsykiatri", "Hjemløse og Udsatte"] {
            let n = b.rng.range(20, 30);
            b.team(
                v,
                format!("Voksenhandicap og Psykiatri, {team}"),
                &ADULT_SERVICES,
                n,
            );
        }
    }
    let n = b.rng.range(3, 5);
    let homes = b.add(Some(d), "Botilbud og Bostøtte".into(), "Center", &AREA, n);
    let count = if large { 40 } else { 8 };
    for _ in 0..count {
        let name = b.home_name();
        let n = b.rng.range(20, 48);
        b.add(Some(homes), name, "Institution", &RESIDENTIAL, n);
    }
    if large {
        let n = b.rng.range(3, 5);
        let care = b.add(
            Some(d),
            "Anbringelser og Døgninstitutioner".into(),
            "Center",
            &AREA,
            n,
        );
        for _ in 0..12 {
            let name = b.fresh(|rng| format!("Døgninstitutionen {}", rng.pick(HOME_NAMES)));
            let n = b.rng.range(24, 36);
            b.add(Some(care), name, "Institution", &RESIDENTIAL, n);
        }
    }
    let n = b.staff([(0, 0), (15, 25), (30, 45)]);
    b.add(
        Some(homes),
        "Bostøtten".into(),
        "Institution",
        &RESIDENTIAL,
        n,
    );
    let centres = if large { 3 } else { 1 };
    for i in 0..centres {
        let t = b.town(i).to_owned();
        let n = b.rng.range(15, 30);
        b.add(
            Some(d),
            format!("Misbrugscenter {t}"),
            "Institution",
            &ADDICTION,
            n,
        );
    }
    let places = if large { 6 } else { 1 };
    for _ in 0..places {
        let name = b.fresh(|rng| format!("Værestedet {}", rng.pick(HOME_NAMES)));
        let n = b.rng.range(5, 12);
        b.add(Some(d), name, "Institution", &DROP_IN, n);
    }
}
