//! The organisation's structure in the subscriber's sinks (issues #12, #13): classes, groups and
//! associations reach the PostgreSQL cache's typed views; every class reference has its title
//! beside it, resolved when queried, so a class rename shows without an event of the referencing
//! entity; the two consumer queries of `orghub_subscriber::sinks::postgres::queries` answer from
//! the views; and the midnight actions `effective` and `expired` pass the version guard of every
//! sink like any event.

use std::time::Duration;

use orghub_contracts::facet::{Facet, class_uuid};
use orghub_contracts::{Kommune, OrgEvent};
use orghub_subscriber::Command;
use orghub_subscriber::sinks::postgres::queries::{COMMITTEE_MEMBERS, UNIT_ENGAGEMENTS};
use orghub_tests::fixtures::{SINCE, id, today};
use orghub_tests::subscriber::{
    Behaviour, Probe, Spec, TestSubscriber, WebhookServer, republish_event, snapshot,
};
use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost, eventually};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const K: &str = "751";
const DEADLINE: Duration = Duration::from_secs(30);
const SECRET: &str = "structure-secret-0123456789";

/// `associations(uuid, person, unit, group_uuid, association_type_title)`.
type AssociationRow = (Uuid, Uuid, Option<Uuid>, Option<Uuid>, String);

fn class(facet: Facet, user_key: &str) -> Uuid {
    class_uuid(Kommune::parse(K).expect("kommune"), facet, user_key)
}

async fn put(w: &TestWriter, path: &str, uuid: Uuid, state: Value) {
    let reply = w.put(K, path, uuid, state).await;
    assert!(
        (200..300).contains(&reply.status),
        "PUT {path}/{uuid}: {} {}",
        reply.status,
        reply.text
    );
}

async fn put_class(w: &TestWriter, facet: Facet, user_key: &str, title: &str) {
    put(
        w,
        "classes",
        class(facet, user_key),
        json!({"validity": {"from": SINCE}, "facet": facet.key(), "user_key": user_key, "title": title}),
    )
    .await;
}

/// The classes the organisation below refers to.
const CLASSES: [(Facet, &str, &str); 12] = [
    (Facet::Hierarchy, "linjeorganisation", "Linjeorganisation"),
    (Facet::UnitType, "forvaltning", "Forvaltning"),
    (Facet::UnitLevel, "niveau-2", "Niveau 2"),
    (Facet::JobTitle, "paedagog", "Pædagog"),
    (Facet::JobTitle, "paedagogisk-leder", "Pædagogisk leder"),
    (
        Facet::EngagementType,
        "maanedsloennet-fuldtid",
        "Månedslønnet, fuldtid",
    ),
    (Facet::ManagerType, "direktoer", "Direktør"),
    (Facet::Responsibility, "personale", "Personale"),
    (Facet::Responsibility, "oekonomi", "Økonomi"),
    (Facet::ItSystem, "ad", "Active Directory"),
    (Facet::GroupType, "med-udvalg", "MED-udvalg"),
    (Facet::AssociationType, "med-medlem", "MED-medlem"),
];

/// Classes; units 1 (root) and 2; persons 20..=23; engagements 30..=32 in unit 2; manager 40;
/// IT account 70; the MED committee 80 and a project group 81; associations 90..=93 (two MED
/// members, one project member, one unit association).
async fn organisation(w: &TestWriter) {
    for (facet, key, title) in CLASSES {
        put_class(w, facet, key, title).await;
    }
    put_class(w, Facet::AssociationType, "amr", "Arbejdsmiljørepræsentant").await;
    put_class(w, Facet::AssociationType, "tr", "Tillidsrepræsentant").await;
    put_class(w, Facet::GroupType, "projekt", "Projekt").await;
    let since = json!({"from": SINCE});
    let line = class(Facet::Hierarchy, "linjeorganisation");
    put(
        w,
        "units",
        id(1),
        json!({"validity": since, "name": "Kommunen", "hierarchy": line}),
    )
    .await;
    put(
        w,
        "units",
        id(2),
        json!({"validity": since, "name": "Børn og Unge", "parent": id(1),
        "hierarchy": line, "unit_type": class(Facet::UnitType, "forvaltning"),
        "unit_level": class(Facet::UnitLevel, "niveau-2")}),
    )
    .await;
    for (n, given, surname) in [
        (20, "Anna", "Andersen"),
        (21, "Bo", "Bech"),
        (22, "Carl", "Christensen"),
        (23, "Dorte", "Dahl"),
    ] {
        put(
            w,
            "persons",
            id(n),
            json!({"validity": since, "given_name": given, "surname": surname}),
        )
        .await;
    }
    for (n, person, title) in [
        (30, 20, "paedagog"),
        (31, 21, "paedagogisk-leder"),
        (32, 22, "paedagog"),
    ] {
        put(
            w,
            "engagements",
            id(n),
            json!({"validity": since, "person": id(person),
            "unit": id(2), "job_title": class(Facet::JobTitle, title),
            "engagement_type": class(Facet::EngagementType, "maanedsloennet-fuldtid"),
            "primary": true}),
        )
        .await;
    }
    // Dorte works elsewhere (the root unit): not one of unit 2's engagements.
    put(
        w,
        "engagements",
        id(33),
        json!({"validity": since, "person": id(23), "unit": id(1),
        "job_title": class(Facet::JobTitle, "paedagogisk-leder")}),
    )
    .await;
    put(
        w,
        "managers",
        id(40),
        json!({"validity": since, "unit": id(2), "person": id(21),
        "manager_type": class(Facet::ManagerType, "direktoer"),
        "responsibilities": [class(Facet::Responsibility, "personale"),
                             class(Facet::Responsibility, "oekonomi")]}),
    )
    .await;
    put(
        w,
        "itaccounts",
        id(70),
        json!({"validity": since, "person": id(20),
        "it_system": class(Facet::ItSystem, "ad"), "user_id": "anan", "engagements": [id(30)]}),
    )
    .await;
    put(
        w,
        "groups",
        id(80),
        json!({"validity": since, "name": "Hoved-MED",
        "group_type": class(Facet::GroupType, "med-udvalg"), "unit": id(1)}),
    )
    .await;
    put(
        w,
        "groups",
        id(81),
        json!({"validity": since, "name": "Projekt Ny Skole",
        "group_type": class(Facet::GroupType, "projekt")}),
    )
    .await;
    for (n, person, target, kind) in [
        (90, 22, json!({"group": id(80)}), "med-medlem"),
        (91, 20, json!({"group": id(80)}), "amr"),
        (92, 21, json!({"group": id(81)}), "med-medlem"),
        (93, 23, json!({"unit": id(2)}), "tr"),
    ] {
        let mut state = json!({"validity": since, "person": id(person),
            "association_type": class(Facet::AssociationType, kind)});
        state
            .as_object_mut()
            .expect("object")
            .extend(target.as_object().expect("object").clone());
        put(w, "associations", id(n), state).await;
    }
}

async fn committee(pool: &PgPool, group: Uuid) -> Vec<(String, Uuid, String, String, String)> {
    sqlx::query_as(COMMITTEE_MEMBERS)
        .bind(group)
        .fetch_all(pool)
        .await
        .expect("the committee query")
}

async fn unit_engagements(
    pool: &PgPool,
    unit: Uuid,
) -> Vec<(Uuid, String, String, Option<Uuid>, Option<String>, bool)> {
    sqlx::query_as(UNIT_ENGAGEMENTS)
        .bind(unit)
        .fetch_all(pool)
        .await
        .expect("the unit engagements query")
}

#[tokio::test]
async fn classes_groups_and_associations_reach_the_cache_and_a_class_rename_shows_without_an_event_of_the_referencing_entity()
 {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let spec = Spec::new(
        "structure",
        &vhost.amqp_url,
        &writer,
        format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
    );
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    organisation(&writer).await;
    let probe = Probe::Postgres {
        pool: cache.pool.clone(),
        schema: "orghub_cache".into(),
    };
    probe
        .converges_to(&snapshot(&writer, K).await, DEADLINE)
        .await;
    let pool = &cache.pool;

    // The new kinds have their views.
    let classes: i64 = sqlx::query_scalar("SELECT count(*) FROM orghub_cache.classes")
        .fetch_one(pool)
        .await
        .expect("classes");
    assert_eq!(classes, 15);
    let (facet, key, title): (String, String, String) =
        sqlx::query_as("SELECT facet, user_key, title FROM orghub_cache.classes WHERE uuid = $1")
            .bind(class(Facet::ItSystem, "ad"))
            .fetch_one(pool)
            .await
            .expect("class ad");
    assert_eq!(
        (facet.as_str(), key.as_str(), title.as_str()),
        ("it_system", "ad", "Active Directory")
    );
    let groups: Vec<(Uuid, String, Uuid, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT uuid, name, group_type, group_type_title, unit FROM orghub_cache.groups
         ORDER BY uuid",
    )
    .fetch_all(pool)
    .await
    .expect("groups");
    assert_eq!(
        groups,
        [
            (
                id(80),
                "Hoved-MED".into(),
                class(Facet::GroupType, "med-udvalg"),
                "MED-udvalg".into(),
                Some(id(1))
            ),
            (
                id(81),
                "Projekt Ny Skole".into(),
                class(Facet::GroupType, "projekt"),
                "Projekt".into(),
                None
            ),
        ]
    );
    let associations: Vec<AssociationRow> = sqlx::query_as(
        "SELECT uuid, person, unit, group_uuid, association_type_title
         FROM orghub_cache.associations ORDER BY uuid",
    )
    .fetch_all(pool)
    .await
    .expect("associations");
    assert_eq!(
        associations,
        [
            (id(90), id(22), None, Some(id(80)), "MED-medlem".into()),
            (
                id(91),
                id(20),
                None,
                Some(id(80)),
                "Arbejdsmiljørepræsentant".into()
            ),
            (id(92), id(21), None, Some(id(81)), "MED-medlem".into()),
            (
                id(93),
                id(23),
                Some(id(2)),
                None,
                "Tillidsrepræsentant".into()
            ),
        ]
    );

    // Every class reference of the changed kinds: a uuid and its title.
    let unit: (Uuid, String, Uuid, String, Uuid, String) = sqlx::query_as(
        "SELECT unit_type, unit_type_title, unit_level, unit_level_title, hierarchy,
                hierarchy_title FROM orghub_cache.units WHERE uuid = $1",
    )
    .bind(id(2))
    .fetch_one(pool)
    .await
    .expect("unit 2");
    assert_eq!(
        unit,
        (
            class(Facet::UnitType, "forvaltning"),
            "Forvaltning".into(),
            class(Facet::UnitLevel, "niveau-2"),
            "Niveau 2".into(),
            class(Facet::Hierarchy, "linjeorganisation"),
            "Linjeorganisation".into()
        )
    );
    let engagement_type: (Uuid, String) = sqlx::query_as(
        "SELECT engagement_type, engagement_type_title FROM orghub_cache.engagements
         WHERE uuid = $1",
    )
    .bind(id(30))
    .fetch_one(pool)
    .await
    .expect("engagement 30");
    assert_eq!(
        engagement_type,
        (
            class(Facet::EngagementType, "maanedsloennet-fuldtid"),
            "Månedslønnet, fuldtid".into()
        )
    );
    let manager: (Uuid, String, Vec<Uuid>, Vec<String>) = sqlx::query_as(
        "SELECT manager_type, manager_type_title, responsibilities, responsibility_titles
         FROM orghub_cache.managers WHERE uuid = $1",
    )
    .bind(id(40))
    .fetch_one(pool)
    .await
    .expect("manager 40");
    assert_eq!(
        manager,
        (
            class(Facet::ManagerType, "direktoer"),
            "Direktør".into(),
            vec![
                class(Facet::Responsibility, "personale"),
                class(Facet::Responsibility, "oekonomi")
            ],
            vec!["Personale".into(), "Økonomi".into()]
        )
    );
    let account: (Uuid, String, Vec<Uuid>) = sqlx::query_as(
        "SELECT it_system, it_system_title, engagements FROM orghub_cache.itaccounts
         WHERE uuid = $1",
    )
    .bind(id(70))
    .fetch_one(pool)
    .await
    .expect("IT account 70");
    assert_eq!(
        account,
        (
            class(Facet::ItSystem, "ad"),
            "Active Directory".into(),
            vec![id(30)]
        )
    );
    // A join resolves any class column the same way.
    let joined: String = sqlx::query_scalar(
        "SELECT c.title FROM orghub_cache.engagements e
         JOIN orghub_cache.classes c ON c.uuid = e.job_title WHERE e.uuid = $1",
    )
    .bind(id(31))
    .fetch_one(pool)
    .await
    .expect("joined title");
    assert_eq!(joined, "Pædagogisk leder");

    // The consumer queries.
    assert_eq!(
        committee(pool, id(80)).await,
        [
            (
                "Hoved-MED".into(),
                id(20),
                "Anna".into(),
                "Andersen".into(),
                "Arbejdsmiljørepræsentant".into()
            ),
            (
                "Hoved-MED".into(),
                id(22),
                "Carl".into(),
                "Christensen".into(),
                "MED-medlem".into()
            ),
        ],
        "the MED committee's members, not the project group's nor the unit's"
    );
    assert_eq!(
        committee(pool, id(2)).await,
        [(
            "Børn og Unge".into(),
            id(23),
            "Dorte".into(),
            "Dahl".into(),
            "Tillidsrepræsentant".into()
        )],
        "a unit's associations answer the same query"
    );
    let paedagog = class(Facet::JobTitle, "paedagog");
    let leder = class(Facet::JobTitle, "paedagogisk-leder");
    assert_eq!(
        unit_engagements(pool, id(2)).await,
        [
            (
                id(30),
                "Anna".into(),
                "Andersen".into(),
                Some(paedagog),
                Some("Pædagog".into()),
                true
            ),
            (
                id(31),
                "Bo".into(),
                "Bech".into(),
                Some(leder),
                Some("Pædagogisk leder".into()),
                true
            ),
            (
                id(32),
                "Carl".into(),
                "Christensen".into(),
                Some(paedagog),
                Some("Pædagog".into()),
                true
            ),
        ]
    );

    // A class rename is one class event; the engagements show the new title without one.
    let engagement_events = |log: &[Value]| {
        log.iter()
            .filter(|e| {
                e["type"]
                    .as_str()
                    .is_some_and(|t| t.contains(".engagement."))
            })
            .count()
    };
    let before = writer.events(K).await;
    let versions_before: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM orghub_cache.engagements WHERE unit = $1 ORDER BY uuid",
    )
    .bind(id(2))
    .fetch_all(pool)
    .await
    .expect("versions");
    // A rename from next month is the class's next version, but not today's title.
    let next_month = today()
        .checked_add_days(chrono::Days::new(30))
        .expect("date");
    put(
        &writer,
        "classes",
        paedagog,
        json!({"validity": {"from": next_month.to_string()}, "facet": "job_title",
               "user_key": "paedagog", "title": "Pædagog fra næste måned"}),
    )
    .await;
    eventually(
        DEADLINE,
        "the class's second version in the cache",
        || async {
            let version: i64 =
                sqlx::query_scalar("SELECT version FROM orghub_cache.entity WHERE uuid = $1")
                    .bind(paedagog)
                    .fetch_one(pool)
                    .await
                    .expect("class row");
            (version == 2).then_some(())
        },
    )
    .await;
    assert_eq!(
        unit_engagements(pool, id(2)).await[0].4.as_deref(),
        Some("Pædagog"),
        "titles are the classes' titles today"
    );
    put_class(
        &writer,
        Facet::JobTitle,
        "paedagog",
        "Pædagog (overenskomst 2026)",
    )
    .await;
    let after = writer.events(K).await;
    assert_eq!(after.len(), before.len() + 2, "two events: the class's");
    assert_eq!(engagement_events(&after), engagement_events(&before));
    eventually(
        DEADLINE,
        "the renamed title in the engagements view",
        || async {
            let rows = unit_engagements(pool, id(2)).await;
            (rows[0].4.as_deref() == Some("Pædagog (overenskomst 2026)")).then_some(rows)
        },
    )
    .await;
    let rows = unit_engagements(pool, id(2)).await;
    let titles: Vec<Option<String>> = rows.iter().map(|r| r.4.clone()).collect();
    assert_eq!(
        titles,
        [
            Some("Pædagog (overenskomst 2026)".into()),
            Some("Pædagogisk leder".into()),
            Some("Pædagog (overenskomst 2026)".into())
        ]
    );
    let versions_after: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM orghub_cache.engagements WHERE unit = $1 ORDER BY uuid",
    )
    .bind(id(2))
    .fetch_all(pool)
    .await
    .expect("versions");
    assert_eq!(
        versions_after, versions_before,
        "no engagement row was rewritten"
    );

    subscriber.stop().await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

/// A hand-made midnight event from a real one: `action`, `version`, a fresh id, and the
/// document's first segment named `name` (`effective`) or ended today (`expired`).
fn midnight(real: &Value, action: &str, version: u64, name: &str) -> Value {
    let mut e = real.clone();
    e["id"] = json!(Uuid::now_v7());
    e["type"] = json!(format!("dk.orghub.org.unit.{action}.v1"));
    e["entityversion"] = json!(version);
    e["data"]["version"] = json!(version);
    e["data"]["timeline"][0]["name"] = json!(name);
    if action == "expired" {
        e["data"]["timeline"][0]["validity"]["to"] = json!(today().to_string());
        e["data"]["current"] = Value::Null;
    } else {
        e["data"]["current"] = e["data"]["timeline"][0].clone();
    }
    OrgEvent::from_json_value(e.clone()).expect("the hand-made event is a valid event");
    e
}

#[derive(Debug, Clone, Copy)]
enum SinkKind {
    Postgres,
    Webhook,
    Ndjson,
}

/// `effective` at version N+1 replaces the document; an older `effective` is skipped; `expired`
/// at N+2 replaces it again with `current: null`.
async fn midnight_events_pass_the_version_guard(kind: SinkKind) {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cache_db = None;
    let (sink_toml, probe) = match kind {
        SinkKind::Postgres => {
            let cache = TestDatabase::create().await;
            let toml = format!("type = \"postgres\"\nurl = \"{}\"", cache.url);
            let probe = Probe::Postgres {
                pool: cache.pool.clone(),
                schema: "orghub_cache".into(),
            };
            cache_db = Some(cache);
            (toml, probe)
        }
        SinkKind::Webhook => {
            let server = WebhookServer::start(SECRET, Behaviour::default()).await;
            let toml = format!(
                "type = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_ms = 5000\n\
                 state_path = \"{}\"",
                server.url,
                dir.path().join("webhook-state.jsonl").display()
            );
            (toml, Probe::Webhook(server))
        }
        SinkKind::Ndjson => {
            let path = dir.path().join("events.ndjson");
            let toml = format!("type = \"ndjson\"\npath = \"{}\"", path.display());
            (toml, Probe::Ndjson(path))
        }
    };
    let spec = Spec::new(
        &format!("midnight-{}", format!("{kind:?}").to_lowercase()),
        &vhost.amqp_url,
        &writer,
        sink_toml,
    );
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    let amqp = orghub_broker::connect(&vhost.amqp_url, "structure test")
        .await
        .expect("amqp");
    put(
        &writer,
        "units",
        id(1),
        json!({"validity": {"from": SINCE}, "name": "Kommunen"}),
    )
    .await;
    put(
        &writer,
        "units",
        id(1),
        json!({"validity": {"from": SINCE}, "name": "Kommunen (omdøbt)"}),
    )
    .await;
    probe
        .converges_to(&snapshot(&writer, K).await, DEADLINE)
        .await;
    let log = writer.events(K).await;
    let v2 = log
        .iter()
        .find(|e| e["entityversion"] == json!(2))
        .expect("version 2 in the log")
        .clone();
    let name_held = || async {
        let state = probe.state().await;
        state
            .get(&id(1))
            .map(|(v, doc)| (*v, doc["current"]["name"].as_str().map(str::to_owned)))
    };

    let effective = midnight(&v2, "effective", 3, "Kommunen fra i dag");
    republish_event(&amqp, &effective).await;
    eventually(DEADLINE, "the effective event applied", || async {
        (name_held().await == Some((3, Some("Kommunen fra i dag".into())))).then_some(())
    })
    .await;
    assert_eq!(
        probe.state().await[&id(1)].1,
        effective["data"],
        "the effective event's document replaced the held one"
    );

    let stale_before = subscriber.metrics.stale.get();
    republish_event(&amqp, &midnight(&v2, "effective", 2, "Forældet")).await;
    eventually(DEADLINE, "the older effective event skipped", || async {
        (subscriber.metrics.stale.get() > stale_before).then_some(())
    })
    .await;
    assert_eq!(
        name_held().await,
        Some((3, Some("Kommunen fra i dag".into())))
    );

    let expired = midnight(&v2, "expired", 4, "Kommunen fra i dag");
    republish_event(&amqp, &expired).await;
    eventually(DEADLINE, "the expired event applied", || async {
        (name_held().await == Some((4, None))).then_some(())
    })
    .await;
    if let Some(cache) = &cache_db {
        let in_view: i64 =
            sqlx::query_scalar("SELECT count(*) FROM orghub_cache.units WHERE uuid = $1")
                .bind(id(1))
                .fetch_one(&cache.pool)
                .await
                .expect("units view");
        assert_eq!(in_view, 0, "an expired unit has no row in today's view");
    }

    subscriber.stop().await;
    let _ = amqp.close(200, "done".into()).await;
    writer.stop().await;
    if let Some(cache) = cache_db {
        cache.drop_now().await;
    }
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn the_postgres_cache_applies_effective_and_expired_events_by_version() {
    midnight_events_pass_the_version_guard(SinkKind::Postgres).await;
}

#[tokio::test]
async fn the_webhook_sink_posts_effective_and_expired_events_by_version() {
    midnight_events_pass_the_version_guard(SinkKind::Webhook).await;
}

#[tokio::test]
async fn the_ndjson_sink_appends_effective_and_expired_events_by_version() {
    midnight_events_pass_the_version_guard(SinkKind::Ndjson).await;
}

#[tokio::test]
async fn a_cache_of_the_label_layout_gets_its_views_recreated_once_and_keeps_its_rows() {
    let db = TestDatabase::create().await;
    let cache = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
    // What a subscriber of the label layout left: a unit with a free-text type, and a view whose
    // `unit_type` is text.
    sqlx::raw_sql(
        r#"CREATE SCHEMA orghub_cache;
        CREATE TABLE orghub_cache.entity (uuid uuid PRIMARY KEY, kommune text NOT NULL,
            kind text NOT NULL, version bigint NOT NULL, sequence bigint NOT NULL,
            deleted boolean NOT NULL DEFAULT false, document jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO orghub_cache.entity (uuid, kommune, kind, version, sequence, document)
        VALUES ('00000000-0000-4000-8000-000000000001', '751', 'unit', 1, 1,
            '{"timeline": [{"validity": {"from": "2020-01-01", "to": null},
                            "name": "Kommunen", "unit_type": "Afdeling"}]}');
        CREATE VIEW orghub_cache.units AS
            SELECT uuid, document->'timeline'->0->>'name' AS name,
                   document->'timeline'->0->>'unit_type' AS unit_type
            FROM orghub_cache.entity WHERE kind = 'unit';"#,
    )
    .execute(&cache.pool)
    .await
    .expect("the label layout");
    let spec = Spec::new(
        "upgraded",
        &vhost.amqp_url,
        &writer,
        format!("type = \"postgres\"\nurl = \"{}\"", cache.url),
    );
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    let (name, unit_type, column_type): (String, Option<Uuid>, String) = sqlx::query_as(
        "SELECT name, unit_type, pg_typeof(unit_type)::text FROM orghub_cache.units
         WHERE uuid = $1",
    )
    .bind(id(1))
    .fetch_one(&cache.pool)
    .await
    .expect("the cached unit in the new view");
    assert_eq!(
        (name.as_str(), unit_type, column_type.as_str()),
        ("Kommunen", None, "uuid"),
        "the row is kept; an old label is a null reference, never an error"
    );
    subscriber.stop().await;

    // The fagsystem builds on the new views; the next start leaves them alone.
    sqlx::raw_sql(
        "CREATE VIEW public.my_units AS SELECT uuid, unit_type_title FROM orghub_cache.units",
    )
    .execute(&cache.pool)
    .await
    .expect("a fagsystem view");
    let subscriber = TestSubscriber::start(&spec, Command::Run).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM public.my_units")
        .fetch_one(&cache.pool)
        .await
        .expect("the fagsystem view survives a restart");
    assert_eq!(rows, 1);

    subscriber.stop().await;
    writer.stop().await;
    cache.drop_now().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
