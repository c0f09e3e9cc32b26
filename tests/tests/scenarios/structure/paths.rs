//! Every write path (PUT, terminate, DELETE, `/changes`, `/import`) for the new kinds, each
//! answered with the kind's document and one event of the kind's type.

use orghub_tests::fixtures::{Facet, SINCE, class};
use serde_json::{Value, json};

use super::{K, c, changes, delete, hub_with_classes, import, put_ok, terminate, u, unit_in};

fn class_state(key: &str) -> Value {
    json!({"validity": {"from": SINCE}, "facet": "group_type", "user_key": key, "title": key})
}

fn group(name: &str) -> Value {
    json!({"validity": {"from": SINCE}, "name": name, "group_type": c(Facet::GroupType, "projekt")})
}

fn association(group: uuid::Uuid) -> Value {
    json!({"validity": {"from": SINCE}, "person": u(10), "group": group,
           "association_type": c(Facet::AssociationType, "projektleder")})
}

#[tokio::test]
async fn classes_groups_and_associations_go_through_every_write_path() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "persons", u(10), super::person()).await;
    let before = w.events(K).await.len();
    let (netvaerk, udvalg) = (
        class(K, Facet::GroupType, "netvaerk"),
        class(K, Facet::GroupType, "udvalg"),
    );

    // PUT.
    let r = put_ok(w, "classes", netvaerk, class_state("netvaerk")).await;
    assert_eq!(r.body["kind"], "class", "{}", r.text);
    put_ok(w, "groups", u(40), group("Projekt A")).await;
    let r = put_ok(w, "associations", u(50), association(u(40))).await;
    assert_eq!(r.body["current"]["group"], u(40).to_string(), "{}", r.text);
    // /changes.
    let r = changes(
        w,
        json!([
            {"op": "put", "kind": "class", "uuid": udvalg, "state": class_state("udvalg")},
            {"op": "put", "kind": "groups", "uuid": u(41), "state": group("Projekt B")},
            {"op": "put", "kind": "association", "uuid": u(51), "state": association(u(41))},
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // /import.
    let r = import(
        w,
        &[
            json!({"kind": "class", "uuid": class(K, Facet::GroupType, "raad"), "state": class_state("raad")}),
            json!({"kind": "group", "uuid": u(42), "state": group("Projekt C")}),
            json!({"kind": "associations", "uuid": u(52), "state": association(u(42))}),
        ],
    )
    .await;
    assert_eq!(r.body["created"], 3, "{}", r.text);
    // Terminate and DELETE.
    let r = terminate(w, "associations", u(50), "2024-01-01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = delete(w, "associations", u(51)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = terminate(w, "groups", u(41), "2024-01-01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = delete(w, "groups", u(41)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = terminate(w, "classes", netvaerk, "2024-01-01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = delete(w, "classes", udvalg).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let types: Vec<String> = w.events(K).await[before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("").to_owned())
        .collect();
    let expected = [
        "class.created",
        "group.created",
        "association.created",
        "class.created",
        "group.created",
        "association.created",
        "class.created",
        "group.created",
        "association.created",
        "association.terminated",
        "association.deleted",
        "group.terminated",
        "group.deleted",
        "class.terminated",
        "class.deleted",
    ]
    .map(|t| format!("dk.orghub.org.{t}.v1"));
    assert_eq!(types, expected);
    let doc = w.get(&format!("/api/v1/{K}/groups/{}", u(42))).await;
    assert_eq!(doc.body["current"]["name"], "Projekt C", "{}", doc.text);
    hub.stop().await;
}

#[tokio::test]
async fn a_full_import_ends_the_new_kinds_its_file_lacks() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    let mut unit = unit_in("Aarhus Kommune", None, None);
    unit["unit_type"] = json!(c(Facet::UnitType, "forvaltning"));
    put_ok(w, "units", u(1), unit).await;
    put_ok(w, "persons", u(10), super::person()).await;
    let mut owned = group("Projekt A");
    owned["unit"] = json!(u(1));
    put_ok(w, "groups", u(40), owned).await;
    put_ok(w, "associations", u(50), association(u(40))).await;

    // The file names only the person: the unit, the group, the association and every class
    // end (or go, if they start today or later).
    let line = json!({"kind": "person", "uuid": u(10), "state": super::person()});
    let r = w
        .post_text(
            &format!("/api/v1/{K}/import?mode=full"),
            line.to_string() + "\n",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rejected_count"], 0, "{}", r.text);
    let ended =
        r.body["terminated"].as_u64().unwrap_or(0) + r.body["deleted"].as_u64().unwrap_or(0);
    let classes = orghub_tests::fixtures::CLASSES.len() as u64;
    assert_eq!(ended, 3 + classes, "{}", r.text);
    hub.stop().await;
}
