//! At most one primary engagement per person on any date, and IT accounts that serve
//! engagements of their own person.

use orghub_tests::fixtures::{Facet, SINCE};
use serde_json::{Value, json};

use super::{
    K, c, changes, delete, dependents, engagement, hub_with_classes, import, put_ok, refused,
    refused_at, rejected, terminate, u, unit_in,
};

fn line(kind: &str, uuid: uuid::Uuid, state: Value) -> Value {
    json!({"kind": kind, "uuid": uuid, "state": state})
}

#[tokio::test]
async fn a_second_primary_engagement_on_overlapping_dates_is_refused_and_on_disjoint_dates_accepted()
 {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "persons", u(10), super::person()).await;
    put_ok(w, "persons", u(11), super::person()).await;
    let until_2022 = engagement(u(10), u(1), true, SINCE, Some("2022-01-01"));
    put_ok(w, "engagements", u(20), until_2022).await;
    let events = hub.event_count().await;

    let overlapping = engagement(u(10), u(1), true, "2021-06-01", None);
    let r = w.put(K, "engagements", u(21), overlapping).await;
    refused_at(&hub, r, "/primary", &u(20).to_string(), events).await;
    // Not primary, or another person's: fine.
    put_ok(
        w,
        "engagements",
        u(21),
        engagement(u(10), u(1), false, "2021-06-01", None),
    )
    .await;
    put_ok(
        w,
        "engagements",
        u(22),
        engagement(u(11), u(1), true, SINCE, None),
    )
    .await;
    // Primary from the day the first one ends: disjoint dates.
    put_ok(
        w,
        "engagements",
        u(21),
        engagement(u(10), u(1), true, "2022-01-01", None),
    )
    .await;
    // Extending the first one into the second's dates is refused.
    let events = hub.event_count().await;
    let r = w
        .put(
            K,
            "engagements",
            u(20),
            engagement(u(10), u(1), true, SINCE, None),
        )
        .await;
    refused_at(&hub, r, "/primary", &u(21).to_string(), events).await;

    // Within one request, the second write sees the first.
    let two = json!([
        {"op": "put", "kind": "engagement", "uuid": u(23),
         "state": engagement(u(11), u(1), false, SINCE, None)},
        {"op": "put", "kind": "engagement", "uuid": u(22),
         "state": engagement(u(11), u(1), false, SINCE, None)},
        {"op": "put", "kind": "engagement", "uuid": u(23),
         "state": engagement(u(11), u(1), true, SINCE, None)},
        {"op": "put", "kind": "engagement", "uuid": u(24),
         "state": engagement(u(11), u(1), true, "2030-01-01", None)},
    ]);
    let r = changes(w, two).await;
    refused_at(&hub, r, "/3/state/primary", &u(23).to_string(), events).await;

    // An import: against what is stored (person 10's), and within the file (person 12's).
    let r = import(
        w,
        &[
            line(
                "engagement",
                u(25),
                engagement(u(10), u(1), true, "2023-01-01", None),
            ),
            line("person", u(12), super::person()),
            line(
                "engagement",
                u(26),
                engagement(u(12), u(1), true, SINCE, None),
            ),
            line(
                "engagement",
                u(27),
                engagement(u(12), u(1), true, "2025-01-01", None),
            ),
            line(
                "engagement",
                u(28),
                engagement(u(12), u(1), false, "2025-01-01", None),
            ),
        ],
    )
    .await;
    assert_eq!(
        rejected(&r),
        vec![
            (1, "/state/primary".to_owned()),
            (4, "/state/primary".to_owned())
        ],
        "{}",
        r.text
    );
    assert_eq!(r.body["created"], 3, "{}", r.text);
    hub.stop().await;
}

#[tokio::test]
async fn an_it_account_serves_only_engagements_of_its_own_person() {
    let hub = hub_with_classes().await;
    let w = &hub.writer;
    put_ok(w, "units", u(1), unit_in("Aarhus Kommune", None, None)).await;
    put_ok(w, "persons", u(10), super::person()).await;
    put_ok(w, "persons", u(11), super::person()).await;
    put_ok(
        w,
        "engagements",
        u(20),
        engagement(u(10), u(1), true, SINCE, None),
    )
    .await;
    put_ok(
        w,
        "engagements",
        u(21),
        engagement(u(11), u(1), true, SINCE, None),
    )
    .await;
    let events = hub.event_count().await;
    let account = |engagements: Value| {
        json!({"validity": {"from": SINCE}, "person": u(10), "it_system": c(Facet::ItSystem, "ad"),
               "user_id": "AZ10001", "engagements": engagements})
    };

    let r = w
        .put(K, "itaccounts", u(60), account(json!([u(20), u(21)])))
        .await;
    refused_at(&hub, r, "/engagements", &u(21).to_string(), events).await;
    // The IT system is required and a class of facet it_system.
    let mut no_system = account(json!([u(20)]));
    no_system.as_object_mut().map(|o| o.remove("it_system"));
    let r = w.put(K, "itaccounts", u(60), no_system).await;
    let problem = refused(&hub, r, 422, "validation", events).await;
    assert_eq!(problem["errors"][0]["pointer"], "/it_system", "{problem}");

    put_ok(w, "itaccounts", u(60), account(json!([u(20)]))).await;
    // The engagement is referenced now: it may not end or go while the account serves it.
    let events = hub.event_count().await;
    let r = terminate(w, "engagements", u(20), "2023-01-01").await;
    let problem = refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![u(60)], "{problem}");
    let r = delete(w, "engagements", u(20)).await;
    let problem = refused(&hub, r, 409, "dependents", events).await;
    assert_eq!(dependents(&problem), vec![u(60)], "{problem}");
    let _ = K;
    hub.stop().await;
}
