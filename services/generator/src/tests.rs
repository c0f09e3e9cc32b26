//! The generator's promises: determinism, writer-valid lines, an import order and change stream
//! the writer's integrity rules accept, and sizes near their targets.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use orghub_contracts::{EntityKind, Kommune};
use serde_json::Value;

use super::*;
use crate::check::{Outcome, World};

fn opts(code: &str, size: Size, seed: u64) -> Options {
    Options {
        kommune: Kommune::parse(code).expect("kommune"),
        size,
        seed,
    }
}

/// The reference municipality of each size: Læsø, Aarhus, København.
fn reference(size: Size) -> Options {
    match size {
        Size::Small => opts("825", size, 1),
        Size::Medium => opts("751", size, 1),
        Size::Large => opts("101", size, 1),
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).expect("date")
}

fn ndjson(opts: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    let lines = write_ndjson(opts, &mut out).expect("writes to memory");
    assert_eq!(lines, out.iter().filter(|b| **b == b'\n').count() as u64);
    out
}

/// FNV-1a, 64 bits: a stable fingerprint of bytes.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[test]
fn the_same_options_give_the_same_bytes() {
    for size in [Size::Small, Size::Medium] {
        let o = reference(size);
        assert_eq!(ndjson(&o), ndjson(&o), "{size}");
    }
    let o = reference(Size::Small);
    assert_eq!(changes(&o, 500, today()), changes(&o, 500, today()));
}

/// Pins the small organisation's bytes, so that any change to the output is a deliberate one.
/// When the generator is changed on purpose, update the fingerprint (and the counts in the crate
/// documentation).
#[test]
fn the_small_organisation_is_pinned() {
    let bytes = ndjson(&reference(Size::Small));
    assert_eq!(
        fingerprint(&bytes),
        0xbc25_e0f7_0714_bdb7,
        "the small organisation of 825, seed 1 changed: its fingerprint is now {:#x}",
        fingerprint(&bytes)
    );
}

#[test]
fn different_seeds_and_municipalities_differ() {
    let a = ndjson(&opts("825", Size::Small, 1));
    let b = ndjson(&opts("825", Size::Small, 2));
    let c = ndjson(&opts("751", Size::Small, 1));
    assert_ne!(a, b);
    assert_ne!(a, c);
    let uuids = |bytes: &[u8]| -> HashSet<String> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<Value>(l).expect("json line"))
            // The catalogue's classes are the same in every organisation of a municipality.
            .filter(|v| v["kind"] != "class")
            .map(|v| v["uuid"].as_str().expect("uuid").to_owned())
            .collect()
    };
    assert!(uuids(&a).is_disjoint(&uuids(&b)), "seeds share no UUIDs");
}

#[test]
fn lines_have_the_import_shape() {
    let mut lines = organisation(&reference(Size::Small));
    let first = lines.next().expect("a first line");
    assert_eq!(first.kind, EntityKind::Class, "the catalogue comes first");
    assert_eq!(first.state["validity"]["from"], "1900-01-01");
    let line = lines
        .find(|l| l.kind == EntityKind::Unit)
        .expect("a first unit");
    let json: Value = serde_json::from_str(&line.to_json()).expect("json");
    assert_eq!(json["kind"], "unit");
    assert_eq!(json["uuid"], line.uuid.to_string());
    assert_eq!(json["state"]["name"], "Læsø Kommune");
    assert_eq!(json["state"]["parent"], Value::Null);
    assert_eq!(
        json["state"]["validity"],
        serde_json::json!({"from": "2007-01-01", "to": null})
    );
    assert_eq!(line.uuid.get_version_num(), 8);
}

#[test]
fn sizes_parse_and_print() {
    for size in Size::ALL {
        assert_eq!(size.to_string().parse::<Size>(), Ok(size));
    }
    assert!("huge".parse::<Size>().is_err());
}

#[test]
fn operations_have_the_changes_shape() {
    let stream = changes(&reference(Size::Small), 300, today());
    let put = stream
        .iter()
        .find(|c| matches!(c, Change::Put(_)))
        .expect("a put");
    let op = put.operation();
    assert_eq!(op["op"], "put");
    assert_eq!(op["kind"], put.kind().word());
    assert_eq!(op["uuid"], put.uuid().to_string());
    assert!(op["state"]["validity"]["from"].is_string());
    let end = stream
        .iter()
        .find(|c| matches!(c, Change::Terminate { .. }))
        .expect("a terminate");
    let op = end.operation();
    assert_eq!(op["op"], "terminate");
    assert!(
        op["to"]
            .as_str()
            .is_some_and(|d| d.len() == 10 && d > "2026-12-01")
    );
    assert_eq!(
        op.as_object().map(|o| o.len()),
        Some(4),
        "op, kind, uuid, to"
    );
}

/// Applies the whole organisation to an offline model of the writer: every line must parse with
/// `parse_state` and be created (references to earlier lines of the right kind covering the
/// whole interval, one root, no cycle).
fn world_of(o: &Options) -> (World, Stats) {
    let mut world = World::new();
    let mut stats = Stats::default();
    for (n, line) in organisation(o).enumerate() {
        let outcome = world
            .apply_line(&line)
            .unwrap_or_else(|e| panic!("{} line {}: {e}", o.size, n + 1));
        assert_eq!(
            outcome,
            Outcome::Created,
            "{} line {}: each entity once",
            o.size,
            n + 1
        );
        stats.count(line.kind);
    }
    // One root per hierarchy: the line organisation, the payroll and the MED organisation.
    let roots = world.roots();
    assert_eq!(roots.len(), 3, "a root unit per hierarchy");
    assert!(
        roots
            .iter()
            .any(|(_, v)| *v == vec![orghub_contracts::Validity::open(tree::epoch())])
    );
    (world, stats)
}

fn check_size(size: Size, change_count: usize) {
    let o = reference(size);
    let (mut world, counted) = world_of(&o);
    assert_eq!(counted, stats(&o));
    assert_eq!(world.len() as u64, counted.total());
    let stream = changes(&o, change_count, today());
    assert_eq!(stream.len(), change_count);
    let mut kinds: HashMap<(EntityKind, bool), usize> = HashMap::new();
    for (n, change) in stream.iter().enumerate() {
        let outcome = world
            .apply(change)
            .unwrap_or_else(|e| panic!("{size} change {n}: {e}\n{}", change.operation()));
        assert_ne!(
            outcome,
            Outcome::Unchanged,
            "{size} change {n} changes nothing: {}",
            change.operation()
        );
        *kinds
            .entry((change.kind(), matches!(change, Change::Put(_))))
            .or_default() += 1;
    }
    if change_count >= 1000 {
        for expected in [
            (EntityKind::Person, true),
            (EntityKind::Engagement, true),
            (EntityKind::Address, true),
            (EntityKind::ItAccount, true),
            (EntityKind::Unit, true),
            (EntityKind::Manager, true),
            (EntityKind::Kle, true),
            (EntityKind::Engagement, false),
            (EntityKind::ItAccount, false),
            (EntityKind::Address, false),
            (EntityKind::Person, false),
        ] {
            assert!(
                kinds.contains_key(&expected),
                "{size}: no {expected:?} in {kinds:?}"
            );
        }
    }
}

#[test]
fn the_small_organisation_and_its_changes_satisfy_the_writer() {
    // Long enough that most of Læsø's staff leave and are replaced.
    check_size(Size::Small, 20_000);
}

#[test]
fn the_medium_organisation_and_its_changes_satisfy_the_writer() {
    check_size(Size::Medium, 5_000);
}

#[test]
fn the_large_organisation_and_its_changes_satisfy_the_writer() {
    check_size(Size::Large, 5_000);
}

#[test]
fn other_municipalities_and_seeds_satisfy_the_writer_too() {
    for (code, seed) in [("101", 7), ("400", 3), ("147", 11), ("860", 0)] {
        let o = opts(code, Size::Small, seed);
        let (mut world, _) = world_of(&o);
        for change in changes(&o, 1_000, today()) {
            let outcome = world.apply(&change).expect("change applies");
            assert_ne!(outcome, Outcome::Unchanged);
        }
    }
    // A day long before the organisation's latest start dates still gives a valid stream.
    let o = opts("751", Size::Medium, 5);
    let (mut world, _) = world_of(&o);
    let early = NaiveDate::from_ymd_opt(2019, 3, 14).expect("date");
    for change in changes(&o, 2_000, early) {
        assert_ne!(
            world.apply(&change).expect("change applies"),
            Outcome::Unchanged
        );
    }
}

#[test]
fn sizes_hit_their_targets() {
    let small = stats(&reference(Size::Small));
    assert!((180..=260).contains(&small.persons), "{small}");
    // A manager function per line unit; the payroll and MED units come on top.
    assert!((20..=45).contains(&small.managers), "{small}");
    let medium = stats(&reference(Size::Medium));
    assert!((4_500..=5_500).contains(&medium.persons), "{medium}");
    let large = stats(&reference(Size::Large));
    assert!((37_000..=44_000).contains(&large.persons), "{large}");
    assert!((2_700..=3_300).contains(&large.managers), "{large}");
    assert!((185_000..=220_000).contains(&large.total()), "{large}");
    for s in [small, medium, large] {
        assert!(
            s.units > s.managers,
            "payroll and MED units beside the line units"
        );
        assert!(s.engagements >= s.persons);
        assert_eq!(
            s.classes,
            orghub_contracts::catalogue::entries().count() as u64
        );
        assert!(s.groups >= 3 && s.associations * 2 >= s.managers, "{s}");
    }
}

/// Reads the small organisation back as a human would: names, titles, addresses.
#[test]
fn the_organisation_looks_like_a_danish_municipality() {
    let o = opts("751", Size::Medium, 1);
    let lines: Vec<Line> = organisation(&o).collect();
    let units: HashMap<String, &Line> = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Unit)
        .map(|l| (l.uuid.to_string(), l))
        .collect();
    let names: HashSet<&str> = units
        .values()
        .filter_map(|l| l.state["name"].as_str())
        .collect();
    for expected in [
        "Aarhus Kommune",
        "Borgmesterens Afdeling",
        "Børn og Unge",
        "Sundhed og Omsorg",
        "Teknik og Miljø",
        "Kultur og Borgerservice",
        "Beskæftigelse",
        "Sociale Forhold",
        "Jobcenter Aarhus",
        "Hovedbiblioteket",
    ] {
        assert!(names.contains(expected), "no unit {expected}");
    }
    assert!(names.iter().any(|n| n.ends_with("skolen")));
    assert!(names.iter().any(|n| n.starts_with("Plejecenter ")));
    assert!(names.iter().any(|n| n.starts_with("Børnehuset ")));
    assert_eq!(
        names.len(),
        units.len(),
        "unit names are unique in a municipality"
    );

    // Class references resolve to the catalogue's titles.
    let titles: HashMap<String, &str> = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Class)
        .map(|l| {
            (
                l.uuid.to_string(),
                l.state["title"].as_str().expect("title"),
            )
        })
        .collect();
    let title = |v: &Value| -> Option<&str> { v.as_str().and_then(|u| titles.get(u).copied()) };

    // Teachers work in schools, SOSU staff in care.
    let unit_name = |uuid: &Value| -> String {
        units[uuid.as_str().expect("uuid")].state["name"]
            .as_str()
            .expect("name")
            .to_owned()
    };
    let mut teachers = 0;
    let mut sosu = 0;
    for l in lines.iter().filter(|l| l.kind == EntityKind::Engagement) {
        let unit = unit_name(&l.state["unit"]);
        match title(&l.state["job_title"]) {
            Some("Lærer") => {
                teachers += 1;
                assert!(
                    unit.contains("skole") || unit.contains("Skole"),
                    "a teacher in {unit}"
                );
            }
            Some(t) if t.starts_with("Social- og sundheds") => {
                sosu += 1;
                assert!(
                    [
                        "Plejecenter",
                        "Plejehjemmet",
                        "Omsorgscenter",
                        "Hjemmeplejen",
                        "Sygeplejen",
                        "Bo",
                        "Opgangsfællesskabet"
                    ]
                    .iter()
                    .any(|p| unit.starts_with(p)),
                    "SOSU staff in {unit}"
                );
            }
            _ => {}
        }
    }
    assert!(
        teachers > 500 && sosu > 500,
        "{teachers} teachers, {sosu} SOSU"
    );

    let emails: Vec<&str> = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Address && l.state["address_type"] == "email")
        .filter_map(|l| l.state["value"].as_str())
        .collect();
    assert!(
        emails
            .iter()
            .all(|e| e.ends_with("@aarhus.dk") && e.is_ascii())
    );
    assert_eq!(
        emails.len(),
        emails.iter().collect::<HashSet<_>>().len(),
        "e-mail addresses are unique"
    );
    let cprs = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Person && l.state.get("cpr").is_some())
        .count();
    let persons = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Person)
        .count();
    assert!(
        cprs * 100 / persons >= 20 && cprs * 100 / persons <= 40,
        "{cprs} CPR numbers among {persons} persons"
    );
    let vacant = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Manager && l.state["person"].is_null())
        .count();
    assert!(
        vacant > 0 && vacant * 100 / units.len() <= 10,
        "{vacant} vacant"
    );
    let engagement_types: HashSet<&str> = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Engagement)
        .filter_map(|l| title(&l.state["engagement_type"]))
        .collect();
    assert_eq!(
        engagement_types,
        HashSet::from([
            "Månedslønnet, fuldtid",
            "Månedslønnet, deltid",
            "Timelønnet",
            "Elev"
        ])
    );
}

/// Titles of the class references of an organisation's lines, by class UUID.
fn class_titles(lines: &[Line]) -> HashMap<String, String> {
    lines
        .iter()
        .filter(|l| l.kind == EntityKind::Class)
        .map(|l| {
            let title = l.state["title"].as_str().expect("title").to_owned();
            (l.uuid.to_string(), title)
        })
        .collect()
}

#[test]
fn beside_the_line_organisation_are_payroll_and_med_hierarchies_groups_and_associations() {
    let lines: Vec<Line> = organisation(&reference(Size::Medium)).collect();
    let titles = class_titles(&lines);
    let title = |v: &Value| v.as_str().and_then(|u| titles.get(u)).cloned();
    let mut per_hierarchy: HashMap<String, usize> = HashMap::new();
    let mut med_types = HashSet::new();
    for l in lines.iter().filter(|l| l.kind == EntityKind::Unit) {
        let h = title(&l.state["hierarchy"]).unwrap_or_else(|| "line".into());
        if h == "MED-organisation" {
            med_types.insert(title(&l.state["unit_type"]).expect("unit type"));
        }
        *per_hierarchy.entry(h).or_default() += 1;
    }
    assert!(per_hierarchy["Lønorganisation"] > 10, "{per_hierarchy:?}");
    assert!(per_hierarchy["MED-organisation"] > 10, "{per_hierarchy:?}");
    assert_eq!(
        med_types,
        HashSet::from(["Hovedudvalg", "Områdeudvalg", "Lokaludvalg"].map(String::from))
    );

    let mut association_types: HashMap<String, usize> = HashMap::new();
    for l in lines.iter().filter(|l| l.kind == EntityKind::Association) {
        *association_types
            .entry(title(&l.state["association_type"]).expect("type"))
            .or_default() += 1;
    }
    for expected in [
        "MED-medlem",
        "MED-formand",
        "Arbejdsmiljørepræsentant",
        "Tillidsrepræsentant",
        "Projektleder",
        "Projektdeltager",
        "Styregruppemedlem",
        "Netværksdeltager",
    ] {
        assert!(
            association_types.get(expected).is_some_and(|n| *n > 0),
            "no {expected}: {association_types:?}"
        );
    }
    let groups: Vec<&Line> = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Group)
        .collect();
    assert!(
        groups.iter().any(|g| g.state["parent"].is_string()),
        "nested groups"
    );
    assert!(
        groups.iter().any(|g| g.state["validity"]["to"].is_string()),
        "ended projects"
    );

    // AD accounts serve engagements; some engagements ended in the past.
    let ad = lines
        .iter()
        .filter(|l| l.kind == EntityKind::ItAccount)
        .filter(|l| title(&l.state["it_system"]).as_deref() == Some("Active Directory"))
        .collect::<Vec<_>>();
    let serving = ad
        .iter()
        .filter(|l| {
            l.state["engagements"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .count();
    assert!(
        serving * 100 / ad.len() > 80,
        "{serving} of {} serve",
        ad.len()
    );
    let ended = lines
        .iter()
        .filter(|l| l.kind == EntityKind::Engagement)
        .filter(|l| {
            l.state["validity"]["to"]
                .as_str()
                .is_some_and(|t| t < "2026-01-01")
        })
        .count();
    assert!(ended > 100, "{ended} engagements ended before 2026");

    // Identifiers outside the live ranges.
    for l in lines.iter().filter(|l| l.kind == EntityKind::Address) {
        let value = l.state["value"].as_str().unwrap_or_default();
        match l.state["address_type"].as_str() {
            Some("ean") => assert!(value.starts_with('2'), "{value}"),
            Some("pnumber") => assert!(value.starts_with("99"), "{value}"),
            _ => {}
        }
    }
    for l in lines.iter().filter(|l| l.kind == EntityKind::Person) {
        if let Some(cpr) = l.state["cpr"].as_str() {
            let year: u32 = cpr[4..6].parse().expect("digits");
            assert!((58..=69).contains(&year) && (b'5'..=b'8').contains(&cpr.as_bytes()[6]));
        }
    }
}

#[test]
fn the_top_of_the_administration_differs_between_municipalities() {
    let top = |code: &str| -> (String, String) {
        let lines: Vec<Line> = organisation(&opts(code, Size::Small, 1)).collect();
        let titles = class_titles(&lines);
        let unit = lines
            .iter()
            .filter(|l| l.kind == EntityKind::Unit)
            .nth(2)
            .expect("a unit below the first forvaltning");
        let first = lines
            .iter()
            .filter(|l| l.kind == EntityKind::Unit)
            .find(|l| {
                let t = l.state["unit_type"].as_str().and_then(|u| titles.get(u));
                t.is_some_and(|t| t != "Kommune" && t != "Afdeling")
            })
            .unwrap_or(unit);
        let t = first.state["unit_type"].as_str().expect("type");
        (
            titles[t].clone(),
            first.state["name"].as_str().expect("name").to_owned(),
        )
    };
    assert_eq!(top("751").0, "Magistratsafdeling");
    assert_eq!(top("101").0, "Forvaltning");
    let (kind, name) = top("860");
    assert_eq!(kind, "Center");
    assert!(name.starts_with("Center for "), "{name}");
}
