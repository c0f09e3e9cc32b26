//! Groups (project organisations, committees, networks) that nest without a cycle, and
//! associations of people with exactly one unit or group.

use orghub_tests::fixtures::{Facet, SINCE};
use serde_json::{Value, json};

use super::{
    K, c, delete, dependents, hub_with_classes, put_ok, refused, refused_at, terminate, u, unit_in,
};

fn group(name: &str, parent: Option<uuid::Uuid>) -> Value {
    json!({"validity": {"from": SINCE}, "name": name, "group_type": c(Facet::GroupType, "projekt"),
           "parent": parent})
}

#[tokio::test]
async fn groups_nest_and_a_group_cycle_is_refused() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "groups", u(40), group("Digitaliseringsprogram", None)).await;
    put_ok(
        w,
        "groups",
        u(41),
        group("Projekt Borgerservice", Some(u(40))),
    )
    .await;
    let mut owned = group("Delprojekt Selvbetjening", Some(u(41)));
    owned["unit"] = json!(u(1));
    put_ok(w, "groups", u(42), owned).await;
    let events = hub.event_count().await;

    let r = w
        .put(
            K,
            "groups",
            u(40),
            group("Digitaliseringsprogram", Some(u(42))),
        )
        .await;
    refused_at(&hub, r, "/parent", "cycle", events).await;
    let r = w
        .put(
            K,
            "groups",
            u(40),
            group("Digitaliseringsprogram", Some(u(40))),
        )
        .await;
    refused_at(&hub, r, "/parent", "itself", events).await;
    // A group's parent is a group, not a unit.
    let r = w
        .put(K, "groups", u(43), group("Forkert", Some(u(1))))
        .await;
    refused_at(&hub, r, "/parent", "expected a group", events).await;
    hub.stop().await;
}

#[tokio::test]
async fn an_association_needs_exactly_one_of_unit_and_group() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "groups", u(40), group("Projekt", None)).await;
    put_ok(w, "persons", u(10), super::person()).await;
    let events = hub.event_count().await;
    let association = |unit: Option<uuid::Uuid>, group: Option<uuid::Uuid>| {
        json!({"validity": {"from": SINCE}, "person": u(10), "unit": unit, "group": group,
               "association_type": c(Facet::AssociationType, "projektdeltager")})
    };

    let r = w
        .put(
            K,
            "associations",
            u(50),
            association(Some(u(1)), Some(u(40))),
        )
        .await;
    let problem = refused(&hub, r, 422, "validation", events).await;
    assert_eq!(problem["errors"][0]["pointer"], "/group", "{problem}");
    let r = w
        .put(K, "associations", u(50), association(None, None))
        .await;
    let problem = refused(&hub, r, 422, "validation", events).await;
    assert_eq!(problem["errors"][0]["pointer"], "/unit", "{problem}");
    // The association type is a class of its facet.
    let mut wrong = association(Some(u(1)), None);
    wrong["association_type"] = json!(c(Facet::GroupType, "projekt"));
    let r = w.put(K, "associations", u(50), wrong).await;
    refused_at(&hub, r, "/association_type", "facet", events).await;

    put_ok(w, "associations", u(50), association(Some(u(1)), None)).await;
    put_ok(w, "associations", u(51), association(None, Some(u(40)))).await;

    // The group is referenced now: it may not end before its member does.
    let events = hub.event_count().await;
    let r = terminate(w, "groups", u(40), "2023-01-01").await;
    let problem = refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![u(51)], "{problem}");
    let r = delete(w, "associations", u(51)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = terminate(w, "groups", u(40), "2023-01-01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let _ = K;
    hub.stop().await;
}
