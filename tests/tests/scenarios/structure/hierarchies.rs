//! Several unit hierarchies side by side: one root each, a parent in the same hierarchy, no
//! cycle.

use orghub_tests::fixtures::Facet;
use serde_json::json;

use super::{K, c, changes, hub_with_classes, put_ok, refused_at, u, unit_in};

#[tokio::test]
async fn each_hierarchy_has_one_root_and_a_second_root_of_the_same_one_is_refused() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    let med = Some(c(Facet::Hierarchy, "med-organisation"));
    let loen = Some(c(Facet::Hierarchy, "loenorganisation"));
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "units", u(2), unit_in("Hovedudvalg", med, None)).await;
    put_ok(w, "units", u(3), unit_in("Lønorganisation", loen, None)).await;
    put_ok(w, "units", u(4), unit_in("Områdeudvalg", med, Some(u(2)))).await;
    let events = hub.event_count().await;

    let r = w
        .put(K, "units", u(5), unit_in("Andet hovedudvalg", med, None))
        .await;
    refused_at(&hub, r, "/parent", &u(2).to_string(), events).await;
    let r = w
        .put(K, "units", u(5), unit_in("Anden kommune", None, None))
        .await;
    refused_at(&hub, r, "/parent", "root of the line organisation", events).await;
    // Moving a unit into a hierarchy as its root is a second root too.
    let r = w
        .put(K, "units", u(4), unit_in("Områdeudvalg", loen, None))
        .await;
    refused_at(&hub, r, "/parent", &u(3).to_string(), events).await;

    // Two roots of one hierarchy in one request: the second one sees the first.
    let two = json!([
        {"op": "put", "kind": "unit", "uuid": u(6), "state": unit_in("A", None, Some(u(1)))},
        {"op": "put", "kind": "unit", "uuid": u(7), "state": unit_in("MED 2", med, None)},
    ]);
    let r = changes(w, two).await;
    refused_at(&hub, r, "/1/state/parent", &u(2).to_string(), events).await;

    // Roots of one hierarchy on disjoint dates are fine: one root on any date.
    let line = Some(c(Facet::Hierarchy, "linjeorganisation"));
    let until_2021 = json!({"validity": {"from": "2020-01-01", "to": "2021-01-01"},
                            "name": "Gammel linje", "hierarchy": line});
    put_ok(w, "units", u(8), until_2021).await;
    let from_2021 =
        json!({"validity": {"from": "2021-01-01"}, "name": "Ny linje", "hierarchy": line});
    put_ok(w, "units", u(9), from_2021).await;
    let events = hub.event_count().await;
    let overlapping =
        json!({"validity": {"from": "2020-06-01"}, "name": "Ny linje", "hierarchy": line});
    let r = w.put(K, "units", u(9), overlapping).await;
    refused_at(&hub, r, "/parent", &u(8).to_string(), events).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_parent_in_another_hierarchy_is_refused() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    let med = Some(c(Facet::Hierarchy, "med-organisation"));
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "units", u(2), unit_in("Hovedudvalg", med, None)).await;
    let events = hub.event_count().await;

    let r = w
        .put(K, "units", u(3), unit_in("Lokaludvalg", med, Some(u(1))))
        .await;
    refused_at(&hub, r, "/parent", "same hierarchy", events).await;
    let r = w
        .put(K, "units", u(3), unit_in("Afdeling", None, Some(u(2))))
        .await;
    refused_at(&hub, r, "/parent", "same hierarchy", events).await;
    put_ok(w, "units", u(3), unit_in("Lokaludvalg", med, Some(u(2)))).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_cycle_within_a_hierarchy_is_refused() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    let med = Some(c(Facet::Hierarchy, "med-organisation"));
    put_ok(w, "units", u(1), unit_in("Hovedudvalg", med, None)).await;
    put_ok(w, "units", u(2), unit_in("Områdeudvalg", med, Some(u(1)))).await;
    put_ok(w, "units", u(3), unit_in("Lokaludvalg", med, Some(u(2)))).await;
    let events = hub.event_count().await;

    let r = w
        .put(K, "units", u(2), unit_in("Områdeudvalg", med, Some(u(3))))
        .await;
    refused_at(&hub, r, "/parent", "cycle", events).await;
    // From a later date only, too.
    let later = json!({"validity": {"from": "2030-01-01"}, "name": "Områdeudvalg",
                       "hierarchy": med, "parent": u(3)});
    let r = w.put(K, "units", u(2), later).await;
    refused_at(&hub, r, "/parent", "cycle", events).await;
    hub.stop().await;
}
