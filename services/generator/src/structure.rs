//! The structures a municipality keeps beside its line organisation (DESIGN §2 *Hierarchies,
//! project organisations, cross-cutting groups*):
//!
//! - the payroll organisation (hierarchy `Lønorganisation`) of its payroll system, SD Løn or KMD
//!   Opus: a root, an institution per forvaltning and an afdeling per unit below it;
//! - the MED organisation (hierarchy `MED-organisation`) of the co-determination agreement: the
//!   Hovedudvalg, an Områdeudvalg per forvaltning and a Lokaludvalg per afdeling/centre below;
//! - groups that cut across them: projects of each forvaltning (some with a steering group
//!   nested below), and the municipality's networks.
//!
//! Who sits where (MED members, the chairs, AMR and TR, project leads and members, network
//! members) is drawn while each line unit is staffed, in [`crate::org`], from the seats here.

use chrono::{Months, NaiveDate};
use uuid::Uuid;

use crate::org::{LAST_START, month};
use crate::records::{GroupRec, UnitRec};
use crate::rng::{Rng, UuidSource};
use crate::tree::{Tree, tags};
use crate::{Options, Size};

/// Project names; a forvaltning's projects are suffixed with its name.
const PROJECTS: &[&str] = &[
    "Velfærdsteknologi",
    "Ny Skolestruktur",
    "Sammenhængende Borgerforløb",
    "Grøn Omstilling",
    "Rekruttering og Fastholdelse",
    "Nyt ESDH-system",
    "Klimatilpasning",
    "Tidlig Indsats",
    "Trivsel i Dagtilbud",
    "Digital Selvbetjening",
    "Kunstig Intelligens i Sagsbehandlingen",
    "Styrket Hjemmepleje",
    "Fremtidens Bibliotek",
    "Flere i Job",
    "Boligsocial Indsats",
    "Energirenovering af Kommunens Bygninger",
];

/// The payroll system whose organisation the municipality keeps: SD Løn or KMD Opus (about half
/// of the municipalities each), by municipality code.
pub(crate) fn payroll_system(opts: &Options) -> &'static str {
    if opts.kommune.code().is_multiple_of(2) {
        "SD Løn"
    } else {
        "KMD Opus"
    }
}

/// The structures of one municipality and, per line unit, its seats in them.
#[derive(Debug, Clone)]
pub(crate) struct Structure {
    /// Units of the payroll and MED hierarchies, parents first.
    pub units: Vec<UnitRec>,
    /// Groups, parents first.
    pub groups: Vec<GroupRec>,
    /// Per line unit: the MED committee its AMR and TR sit in.
    pub committee: Vec<Option<(Uuid, NaiveDate)>>,
    /// Per line unit: the committee its leader chairs (the unit's own).
    pub chairs: Vec<Option<(Uuid, NaiveDate)>>,
    /// Per line unit: its forvaltning's projects (indexes into `groups`).
    pub projects: Vec<Vec<usize>>,
    /// Per line unit: the steering groups its leader sits in (a forvaltning's own).
    pub steering: Vec<Vec<usize>>,
    /// The network of AMRs, and the network of the leaders of forvaltninger and afdelinger.
    pub amr_network: usize,
    pub leader_network: usize,
}

impl Structure {
    pub(crate) fn build(opts: &Options, key: u64, uuids: &UuidSource, tree: &Tree) -> Structure {
        let mut rng = Rng::new(&[key, crate::rng::tag("structure")]);
        let n = tree.units.len();
        let mut units: Vec<UnitRec> = Vec::new();
        let unit_uuid = |k: usize| uuids.uuid(tags::UNIT, (n + k) as u64);
        let root = &tree.units[0];
        let loen = Some("Lønorganisation");
        let med = Some("MED-organisation");

        // The payroll organisation mirrors the line organisation's top two levels.
        let payroll_root = unit_uuid(units.len());
        units.push(UnitRec {
            uuid: payroll_root,
            from: root.rec.from,
            name: format!("{}, {}", root.rec.name, payroll_system(opts)),
            user_key: "LOEN".to_owned(),
            unit_type: "Kommune",
            unit_level: Some("Niveau 1".to_owned()),
            hierarchy: loen,
            parent: None,
        });
        let mut payroll_of: Vec<Option<Uuid>> = vec![None; n];
        for (i, u) in tree.units.iter().enumerate() {
            let parent = match (u.depth, u.parent) {
                (1, _) => payroll_root,
                (2, Some(p)) => match payroll_of[p] {
                    Some(p) => p,
                    None => continue,
                },
                _ => continue,
            };
            let uuid = unit_uuid(units.len());
            payroll_of[i] = Some(uuid);
            units.push(UnitRec {
                uuid,
                from: u.rec.from,
                name: format!("Løn {}", u.rec.name),
                user_key: format!("LOEN-{}", u.rec.user_key),
                unit_type: if u.depth == 1 {
                    "Institution"
                } else {
                    "Afdeling"
                },
                unit_level: Some(format!("Niveau {}", u.depth + 1)),
                hierarchy: loen,
                parent: Some(parent),
            });
        }

        // The MED organisation: Hovedudvalget, an Områdeudvalg per forvaltning, a Lokaludvalg
        // per afdeling or centre below. Its committees were set up when the MED agreement was
        // renewed after the reform, a year after it.
        let med_from = |from: NaiveDate| from.max(month(12));
        let mut chairs: Vec<Option<(Uuid, NaiveDate)>> = vec![None; n];
        let hoved = unit_uuid(units.len());
        chairs[0] = Some((hoved, med_from(root.rec.from)));
        units.push(UnitRec {
            uuid: hoved,
            from: med_from(root.rec.from),
            name: "Hovedudvalget".to_owned(),
            user_key: "MED-HU".to_owned(),
            unit_type: "Hovedudvalg",
            unit_level: Some("Niveau 1".to_owned()),
            hierarchy: med,
            parent: None,
        });
        for (i, u) in tree.units.iter().enumerate() {
            let (parent, unit_type, word) = match (u.depth, u.parent) {
                (1, _) => (hoved, "Områdeudvalg", "Områdeudvalg"),
                (2, Some(p)) if !u.team => match chairs[p] {
                    Some((p, _)) => (p, "Lokaludvalg", "Lokaludvalg"),
                    None => continue,
                },
                _ => continue,
            };
            let uuid = unit_uuid(units.len());
            let from = med_from(u.rec.from);
            chairs[i] = Some((uuid, from));
            units.push(UnitRec {
                uuid,
                from,
                name: format!("{word} {}", u.rec.name),
                user_key: format!("MED-{}", u.rec.user_key),
                unit_type,
                unit_level: Some(format!("Niveau {}", u.depth + 1)),
                hierarchy: med,
                parent: Some(parent),
            });
        }
        // Every line unit's AMR and TR sit in the nearest committee above (or of) it.
        let mut committee: Vec<Option<(Uuid, NaiveDate)>> = vec![None; n];
        for (i, u) in tree.units.iter().enumerate() {
            committee[i] = chairs[i].or_else(|| u.parent.and_then(|p| committee[p]));
        }

        // Groups: two networks of the whole municipality, then each forvaltning's projects.
        let mut groups: Vec<GroupRec> = Vec::new();
        let group_uuid = |k: usize| uuids.uuid(tags::GROUP, k as u64);
        let network = |groups: &mut Vec<GroupRec>, name: &str, user_key: &str| {
            groups.push(GroupRec {
                uuid: group_uuid(groups.len()),
                from: root.rec.from,
                to: None,
                name: name.to_owned(),
                user_key: user_key.to_owned(),
                group_type: "Netværk",
                parent: None,
                unit: Some(root.rec.uuid),
            });
            groups.len() - 1
        };
        let amr_network = network(&mut groups, "Arbejdsmiljønetværket", "NET-AMR");
        let leader_network = network(&mut groups, "Ledernetværket", "NET-LEDER");
        let per_area = match opts.size {
            Size::Small => 1,
            Size::Medium => 2,
            Size::Large => 4,
        };
        let mut area_projects: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut steering: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, u) in tree.units.iter().enumerate() {
            if u.depth != 1 {
                continue;
            }
            for k in 0..per_area {
                let title = rng.pick(PROJECTS);
                // Started 2015–2026; some finished years ago, some end next year, most run on.
                let from = month(rng.range(96, LAST_START - 6)).max(u.rec.from);
                let to = match rng.below(100) {
                    0..40 => from
                        .checked_add_months(Months::new(rng.range(12, 36)))
                        .filter(|to| *to <= month(LAST_START)),
                    40..60 => Some(month(rng.range(LAST_START + 8, LAST_START + 20))),
                    _ => None,
                };
                let project = groups.len();
                let name = format!("{title}, {}", u.rec.name);
                groups.push(GroupRec {
                    uuid: group_uuid(project),
                    from,
                    to,
                    name: name.clone(),
                    user_key: format!("PRJ-{}-{}", u.rec.user_key, k + 1),
                    group_type: "Projekt",
                    parent: None,
                    unit: Some(u.rec.uuid),
                });
                area_projects[i].push(project);
                if rng.percent(50) {
                    let s = groups.len();
                    groups.push(GroupRec {
                        uuid: group_uuid(s),
                        from,
                        to,
                        name: format!("Styregruppe for {name}"),
                        user_key: format!("STY-{}-{}", u.rec.user_key, k + 1),
                        group_type: "Styregruppe",
                        parent: Some(groups[project].uuid),
                        unit: Some(u.rec.uuid),
                    });
                    steering[i].push(s);
                }
            }
        }
        // Every unit's staff may join the projects of its forvaltning.
        let mut projects: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut area: Vec<Option<usize>> = vec![None; n];
        for (i, u) in tree.units.iter().enumerate() {
            area[i] = if u.depth == 1 {
                Some(i)
            } else {
                u.parent.and_then(|p| area[p])
            };
            if let Some(a) = area[i] {
                projects[i] = area_projects[a].clone();
            }
        }
        Structure {
            units,
            groups,
            committee,
            chairs,
            projects,
            steering,
            amr_network,
            leader_network,
        }
    }
}
