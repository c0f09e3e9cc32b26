//! Class references and the classes themselves: facet, municipality, interval, dependents,
//! renaming, a fixed facet and a user_key unique within it.

use orghub_tests::fixtures::{Facet, class, class_state, seed_classes};
use serde_json::{Value, json};

use super::{
    K, c, delete, dependents, hub_with_classes, put_ok, refused, refused_at, terminate, u,
};

/// A line-organisation root referring to `unit_type`.
fn typed_unit(unit_type: uuid::Uuid) -> Value {
    json!({"validity": {"from": "2020-01-01"}, "name": "Aarhus Kommune", "unit_type": unit_type})
}

#[tokio::test]
async fn a_class_of_the_wrong_facet_is_refused_at_its_field() {
    let hub = hub_with_classes().await;
    let events = hub.event_count().await;
    let job_title = c(Facet::JobTitle, "paedagog");
    let r = hub
        .writer
        .put(K, "units", u(1), typed_unit(job_title))
        .await;
    refused_at(&hub, r, "/unit_type", "facet job_title", events).await;
    put_ok(
        &hub.writer,
        "units",
        u(1),
        typed_unit(c(Facet::UnitType, "forvaltning")),
    )
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn a_class_that_does_not_exist_is_refused_at_its_field() {
    let hub = hub_with_classes().await;
    let events = hub.event_count().await;
    let missing = class(K, Facet::UnitType, "findes-ikke");
    let r = hub.writer.put(K, "units", u(1), typed_unit(missing)).await;
    refused_at(&hub, r, "/unit_type", "exists", events).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_class_of_another_municipality_is_refused_at_its_field() {
    let hub = hub_with_classes().await;
    seed_classes(&hub.writer, "101").await;
    let events = hub.event_count().await;
    let theirs = class("101", Facet::UnitType, "forvaltning");
    let r = hub.writer.put(K, "units", u(1), typed_unit(theirs)).await;
    refused_at(&hub, r, "/unit_type", "another municipality", events).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_class_valid_for_only_part_of_the_interval_is_refused() {
    let hub = hub_with_classes().await;
    let short = class(K, Facet::UnitType, "kortvarig");
    let state = json!({"validity": {"from": "2021-01-01", "to": "2022-01-01"},
                       "facet": "unit_type", "user_key": "kortvarig", "title": "Kortvarig"});
    put_ok(&hub.writer, "classes", short, state).await;
    let events = hub.event_count().await;
    // The unit starts a year before the class and runs on after it ends.
    let r = hub.writer.put(K, "units", u(1), typed_unit(short)).await;
    refused_at(&hub, r, "/unit_type", "whole interval", events).await;
    // Inside the class's interval it is fine.
    let inside = json!({"validity": {"from": "2021-03-01", "to": "2021-12-01"},
                        "name": "Kort", "unit_type": short});
    put_ok(&hub.writer, "units", u(1), inside).await;
    hub.stop().await;
}

#[tokio::test]
async fn terminating_or_deleting_a_referenced_class_is_refused_with_its_dependents() {
    let hub = hub_with_classes().await;
    let forvaltning = c(Facet::UnitType, "forvaltning");
    put_ok(&hub.writer, "units", u(1), typed_unit(forvaltning)).await;
    let responsible = c(Facet::Responsibility, "personale");
    let manager = json!({"validity": {"from": "2020-01-01"}, "unit": u(1),
                         "responsibilities": [responsible, c(Facet::Responsibility, "oekonomi")]});
    put_ok(&hub.writer, "managers", u(30), manager).await;
    let events = hub.event_count().await;

    let r = terminate(&hub.writer, "classes", forvaltning, "2023-01-01").await;
    let problem = refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![u(1)], "{problem}");
    let r = delete(&hub.writer, "classes", forvaltning).await;
    let problem = refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![u(1)], "{problem}");
    // A class in a list counts as well.
    let r = delete(&hub.writer, "classes", responsible).await;
    let problem = refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![u(30)], "{problem}");

    // An unreferenced class may end.
    let r = terminate(
        &hub.writer,
        "classes",
        c(Facet::UnitType, "afdeling"),
        "2023-01-01",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    hub.stop().await;
}

#[tokio::test]
async fn renaming_a_class_is_one_class_event_and_its_referrers_get_none() {
    let hub = hub_with_classes().await;
    let paedagog = c(Facet::JobTitle, "paedagog");
    put_ok(
        &hub.writer,
        "units",
        u(1),
        typed_unit(c(Facet::UnitType, "forvaltning")),
    )
    .await;
    put_ok(&hub.writer, "persons", u(10), super::person()).await;
    for n in 20..23 {
        let e = super::engagement(u(10), u(1), false, "2020-01-01", None);
        put_ok(&hub.writer, "engagements", u(n), e).await;
    }
    let before = hub.writer.events(K).await.len();

    let renamed = class_state(Facet::JobTitle, "paedagog", "Pædagog (uddannet)");
    let r = put_ok(&hub.writer, "classes", paedagog, renamed).await;
    assert_eq!(
        r.body["current"]["title"], "Pædagog (uddannet)",
        "{}",
        r.text
    );

    let events = hub.writer.events(K).await;
    let new: Vec<&Value> = events[before..].iter().collect();
    assert_eq!(new.len(), 1, "one event for the rename: {new:?}");
    assert_eq!(new[0]["type"], "dk.orghub.org.class.updated.v1");
    assert_eq!(new[0]["subject"], paedagog.to_string());
    for n in 20..23 {
        let doc = hub
            .writer
            .get(&format!("/api/v1/{K}/engagements/{}", u(n)))
            .await;
        assert_eq!(
            doc.body["version"], 1,
            "engagement {n} is not re-registered"
        );
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_class_keeps_its_facet() {
    let hub = hub_with_classes().await;
    let events = hub.event_count().await;
    let paedagog = c(Facet::JobTitle, "paedagog");
    let moved = class_state(Facet::UnitType, "paedagog", "Pædagog");
    let r = hub.writer.put(K, "classes", paedagog, moved).await;
    refused_at(&hub, r, "/facet", "fixed", events).await;
    // Also for a later interval only.
    let later = json!({"validity": {"from": "2030-01-01"}, "facet": "unit_type",
                       "user_key": "paedagog", "title": "Pædagog"});
    let r = hub.writer.put(K, "classes", paedagog, later).await;
    refused_at(&hub, r, "/facet", "fixed", events).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_user_key_is_unique_within_its_facet_on_any_date() {
    let hub = hub_with_classes().await;
    let events = hub.event_count().await;
    let twin = class(K, Facet::JobTitle, "en-anden-paedagog");
    let r = hub
        .writer
        .put(
            K,
            "classes",
            twin,
            class_state(Facet::JobTitle, "paedagog", "Pædagog igen"),
        )
        .await;
    refused_at(&hub, r, "/user_key", "already has user_key", events).await;

    // The same user_key in another facet is another class.
    let other = class(K, Facet::UnitType, "paedagog");
    put_ok(
        &hub.writer,
        "classes",
        other,
        class_state(Facet::UnitType, "paedagog", "Pæd."),
    )
    .await;

    // Once the first one has ended, the key is free for the dates after.
    let old = c(Facet::JobTitle, "sagsbehandler");
    let r = super::terminate(&hub.writer, "classes", old, "2020-01-01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = json!({"validity": {"from": "2020-01-01"}, "facet": "job_title",
                       "user_key": "sagsbehandler", "title": "Sagsbehandler (ny)"});
    put_ok(&hub.writer, "classes", twin, after.clone()).await;
    // Not for dates before.
    let events = hub.event_count().await;
    let mut overlapping = after;
    overlapping["validity"]["from"] = json!("2019-06-01");
    let r = hub.writer.put(K, "classes", twin, overlapping).await;
    refused_at(&hub, r, "/user_key", "already has user_key", events).await;
    hub.stop().await;
}
