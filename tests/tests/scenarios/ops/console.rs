//! `orghubctl console` from outside, over HTTP, against real PostgreSQL, RabbitMQ, a writer and a
//! subscriber: nothing without a session, no POST without the session's CSRF token, a wrong
//! token gets no session and is rate-limited, and an operator finds a poisoned subscriber's dead
//! letter, filters, dry-runs and replays it, and the subscriber converges. Also `orghubctl dlq
//! replay --filter`, the same filter for scripts.

use std::time::Duration;

use orghub_broker::connect;
use orghub_contracts::{Action, EntityKind, EventType, Kommune, examples};
use orghub_tests::console::{ConsoleClient, PoisonedHub, TestConsole};
use orghub_tests::ops::{
    Ctl, dead_letter, declare_subscriber_topology, publish_confirmed, queue_depth, unique_name,
};
use orghub_tests::writer::{ADMIN_TOKEN, TestWriter};
use orghub_tests::{TestDatabase, TestVhost, eventually};

const DEADLINE: Duration = Duration::from_secs(30);

/// A console over a writer with nothing in it.
struct Env {
    db: TestDatabase,
    vhost: TestVhost,
    writer: TestWriter,
    console: TestConsole,
}

impl Env {
    async fn start(login_attempts: u32) -> Env {
        let db = TestDatabase::create().await;
        let vhost = TestVhost::create().await;
        let writer = TestWriter::start(&db.url, &vhost.amqp_url).await;
        let console = TestConsole::start(&db.url, &vhost, &writer.base, login_attempts).await;
        Env {
            db,
            vhost,
            writer,
            console,
        }
    }

    async fn finish(self) {
        self.console.stop().await;
        self.writer.stop().await;
        self.db.drop_now().await;
        self.vhost.delete_now().await;
    }
}

#[tokio::test]
async fn no_page_and_no_action_without_a_session() {
    let env = Env::start(5).await;
    let mut anonymous = ConsoleClient::new(&env.console.base);
    for path in [
        "/",
        "/overview",
        "/dead-letters",
        "/dead-letters?reason=bad-data",
        "/dead-letters/some-subscriber/some-id",
        "/jobs/0000",
    ] {
        let page = anonymous.get(path).await;
        let to_login = if path == "/" {
            // The root only points at the overview, which then asks for a login.
            anonymous.follow(&page).await
        } else {
            page
        };
        assert_eq!(to_login.status, 303, "GET {path}: {}", to_login.body);
        assert_eq!(to_login.location.as_deref(), Some("/login"), "GET {path}");
    }
    for path in ["/dead-letters/dry-run", "/dead-letters/redrive", "/logout"] {
        let page = anonymous
            .post(path, &[("action", "purge"), ("csrf", "x")])
            .await;
        assert_eq!(page.status, 401, "POST {path}: {}", page.body);
    }
    // A made-up session id is no session.
    let mut forger = ConsoleClient::new(&env.console.base);
    forger.cookie = Some(format!("orghub_console={}", "ab".repeat(32)));
    assert_eq!(forger.get("/overview").await.status, 303);
    assert_eq!(
        forger
            .post("/dead-letters/dry-run", &[("action", "purge")])
            .await
            .status,
        401
    );
    // Only the login form and the style sheet are public, and every answer forbids framing
    // and foreign content.
    let login = anonymous.get("/login").await;
    login.expect(200);
    let csp = login
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(anonymous.get("/console.css").await.status, 200);
    env.finish().await;
}

#[tokio::test]
async fn a_post_without_the_sessions_csrf_token_is_refused() {
    let env = Env::start(5).await;
    // The login form's POST needs the form's token too.
    let mut client = ConsoleClient::new(&env.console.base);
    client.get("/login").await.expect(200);
    let page = client.post("/login", &[("token", ADMIN_TOKEN)]).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(
        client.get("/overview").await.location.as_deref(),
        Some("/login"),
        "no session came of it"
    );

    client.sign_in_ok().await;
    let overview = client.get("/overview").await;
    overview.expect(200);
    let csrf = overview.field("csrf").expect("the sign-out form's token");
    for fields in [
        vec![("action", "replay")],
        vec![("action", "replay"), ("csrf", "")],
        vec![("action", "replay"), ("csrf", "0123456789abcdef")],
    ] {
        let page = client.post("/dead-letters/dry-run", &fields).await;
        assert_eq!(page.status, 403, "{fields:?}: {}", page.body);
        let page = client.post("/dead-letters/redrive", &fields).await;
        assert_eq!(page.status, 403, "{fields:?}: {}", page.body);
        let page = client.post("/logout", &fields).await;
        assert_eq!(page.status, 403, "{fields:?}: {}", page.body);
    }
    // Another session's token is not this one's.
    let mut other = ConsoleClient::new(&env.console.base);
    other.sign_in_ok().await;
    let other_csrf = other.get("/overview").await.field("csrf").expect("a token");
    assert_ne!(other_csrf, csrf);
    let page = client
        .post("/logout", &[("csrf", other_csrf.as_str())])
        .await;
    assert_eq!(page.status, 403);
    client.get("/overview").await.expect(200);
    // With its own token the session signs out, and is gone.
    let page = client.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        client.get("/overview").await.location.as_deref(),
        Some("/login")
    );
    env.finish().await;
}

#[tokio::test]
async fn a_wrong_token_gets_no_session_and_the_attempt_after_the_allowed_ones_is_rate_limited() {
    let env = Env::start(3).await;
    let mut client = ConsoleClient::new(&env.console.base);
    for attempt in 1..=3 {
        let page = client.sign_in("not-the-admin-token").await;
        assert_eq!(page.status, 401, "attempt {attempt}: {}", page.body);
        assert!(page.body.contains("not the admin token"), "{}", page.body);
        assert!(
            !page.body.contains("not-the-admin-token"),
            "the token is not echoed"
        );
        assert_eq!(
            client.get("/overview").await.location.as_deref(),
            Some("/login"),
            "attempt {attempt} gave no session"
        );
    }
    // Locked out now, even with the right token.
    let page = client.sign_in(ADMIN_TOKEN).await;
    assert_eq!(page.status, 429, "{}", page.body);
    let retry_after: u64 = page
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        client.get("/overview").await.location.as_deref(),
        Some("/login")
    );
    env.finish().await;
}

#[tokio::test]
async fn an_operator_finds_the_poisoned_dead_letter_filters_dry_runs_replays_it_and_the_subscriber_converges()
 {
    let hub = PoisonedHub::start().await;
    let console = TestConsole::start(&hub.db.url, &hub.vhost, &hub.writer.base, 5).await;
    let mut client = ConsoleClient::new(&console.base);
    client.sign_in_ok().await;
    let poisoned = hub.poisoned.to_string();

    // The overview names the subscriber (management statistics lag a few seconds).
    eventually(DEADLINE, "the overview to show the dead letter", || async {
        let mut c = ConsoleClient::new(&console.base);
        c.cookie = client.cookie.clone();
        let page = c.get("/overview").await;
        (page.status == 200 && page.body.contains(&hub.name) && page.body.contains("Dead letters"))
            .then_some(())
    })
    .await;

    // The list shows it; filters narrow it.
    let page = client.get("/dead-letters").await;
    page.expect(200);
    assert!(page.body.contains(&poisoned), "{}", page.body);
    assert!(page.body.contains("sink-permanent"));
    let filtered = client
        .get(&format!(
            "/dead-letters?subscriber={}&reason=sink-permanent&kommune=751&kind=unit&since=2020-01-01T00%3A00",
            hub.name
        ))
        .await;
    filtered.expect(200);
    assert!(filtered.body.contains(&poisoned), "{}", filtered.body);
    for miss in [
        "kind=person",
        "kommune=101",
        "reason=bad-data",
        "until=2020-01-01",
    ] {
        let page = client.get(&format!("/dead-letters?{miss}")).await;
        page.expect(200);
        assert!(!page.body.contains(&poisoned), "{miss} still shows it");
        assert!(page.body.contains("No dead letter matches"), "{miss}");
    }
    let bad = client.get("/dead-letters?kommune=9999").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("not valid"), "{}", bad.body);

    // Its page: the failure, and the event beside the hub's document.
    let detail_path = filtered
        .body
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|href| href.starts_with(&format!("/dead-letters/{}/", hub.name)))
        .expect("a link to the dead letter")
        .to_owned();
    let detail = client.get(&detail_path).await;
    detail.expect(200);
    for text in [
        "Forbudt",
        "units named Forbudt are not allowed here",
        "0 fields differ, 22 are equal",
        "orghub-error-kind",
    ] {
        assert!(
            detail.body.contains(text),
            "{text} missing:\n{}",
            detail.body
        );
    }

    // Repair, dry-run the replay: it says how many and which, and changes nothing.
    hub.repair().await;
    let csrf = filtered.field("csrf").expect("the form's token");
    let dry = client
        .post(
            "/dead-letters/dry-run",
            &[
                ("csrf", csrf.as_str()),
                ("action", "replay"),
                ("subscriber", hub.name.as_str()),
                ("reason", "sink-permanent"),
                ("kommune", "751"),
            ],
        )
        .await;
    dry.expect(200);
    assert!(dry.body.contains("1 dead letters"), "{}", dry.body);
    let event_id = detail_path.rsplit('/').next().unwrap_or("-");
    assert!(dry.body.contains(event_id), "{}", dry.body);
    let dry_run = dry.field("dry_run").expect("the confirm form");
    hub.dlq_depth_becomes(1).await;

    // Another session cannot confirm it.
    let mut other = ConsoleClient::new(&console.base);
    other.sign_in_ok().await;
    let other_csrf = other.get("/overview").await.field("csrf").expect("token");
    let refused = other
        .post(
            "/dead-letters/redrive",
            &[("csrf", other_csrf.as_str()), ("dry_run", dry_run.as_str())],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);

    // Replay: a job page that ends with the result, and the subscriber converges.
    let started = client
        .post(
            "/dead-letters/redrive",
            &[("csrf", csrf.as_str()), ("dry_run", dry_run.as_str())],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let job = started.location.clone().expect("the job's page");
    assert!(job.starts_with("/jobs/"), "{job}");
    let result = eventually(DEADLINE, "the job to finish", || async {
        let mut c = ConsoleClient::new(&console.base);
        c.cookie = client.cookie.clone();
        let page = c.get(&job).await;
        page.body.contains("Result: replay").then_some(page)
    })
    .await;
    assert!(result.body.contains("Done"), "{}", result.body);
    assert!(
        result.body.contains("1 dead letters replayed"),
        "{}",
        result.body
    );
    hub.converges().await;
    hub.dlq_depth_becomes(0).await;
    // Confirming the same dry run twice does nothing the second time.
    let again = client
        .post(
            "/dead-letters/redrive",
            &[("csrf", csrf.as_str()), ("dry_run", dry_run.as_str())],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);

    console.stop().await;
    hub.finish().await;
}

#[tokio::test]
async fn a_purge_by_filter_removes_what_the_dry_run_counted_and_nothing_else() {
    let env = Env::start(5).await;
    let conn = connect(&env.vhost.amqp_url, "console purge test")
        .await
        .expect("amqp");
    let name = unique_name("purge");
    declare_subscriber_topology(&conn, &name).await;
    let dlq = format!("sub.{name}.dlq");
    let event = |kind| {
        examples::event(EventType {
            kind,
            action: Action::Updated,
        })
    };
    let mut in_101 = event(EntityKind::Unit);
    let aalborg = Kommune::parse("101").expect("kommune");
    in_101.kommune = aalborg;
    in_101.data.kommune = aalborg;
    let letters = [
        event(EntityKind::Unit),
        event(EntityKind::Person),
        event(EntityKind::Person),
        in_101,
    ];
    for e in &letters {
        let (body, props) = dead_letter(e, &name, "bad-data", 1, "boom");
        publish_confirmed(&conn, &format!("sub.{name}.x"), &dlq, &body, props).await;
    }
    let mut client = ConsoleClient::new(&env.console.base);
    client.sign_in_ok().await;
    let csrf = client.get("/overview").await.field("csrf").expect("token");
    let kommune = examples::kommune().to_string();
    let dry = client
        .post(
            "/dead-letters/dry-run",
            &[
                ("csrf", csrf.as_str()),
                ("action", "purge"),
                ("kind", "person"),
                ("kommune", kommune.as_str()),
            ],
        )
        .await;
    dry.expect(200);
    assert!(dry.body.contains("2 dead letters"), "{}", dry.body);
    assert!(dry.body.contains("Irreversible"), "{}", dry.body);
    // A dry run changes nothing (what it scanned comes back through the quorum queue's log a
    // moment after it ended).
    eventually(
        DEADLINE,
        "all four dead letters back after the dry run",
        || async { (queue_depth(&conn, &dlq).await == 4).then_some(()) },
    )
    .await;
    let dry_run = dry.field("dry_run").expect("confirm form");
    let started = client
        .post(
            "/dead-letters/redrive",
            &[("csrf", csrf.as_str()), ("dry_run", dry_run.as_str())],
        )
        .await;
    let job = started.location.clone().expect("job");
    let result = eventually(DEADLINE, "the purge to finish", || async {
        let mut c = ConsoleClient::new(&env.console.base);
        c.cookie = client.cookie.clone();
        let page = c.get(&job).await;
        page.body.contains("Result: purge").then_some(page)
    })
    .await;
    assert!(
        result.body.contains("2 dead letters purged"),
        "{}",
        result.body
    );
    eventually(DEADLINE, "two dead letters left", || async {
        (queue_depth(&conn, &dlq).await == 2).then_some(())
    })
    .await;
    let left = client
        .get(&format!("/dead-letters?subscriber={name}"))
        .await;
    for e in &letters {
        let shown = left.body.contains(&e.id.to_string());
        assert_eq!(
            shown,
            e.kind() != EntityKind::Person,
            "{} {}",
            e.kind(),
            e.kommune
        );
    }
    let _ = conn.close(200, "done".into()).await;
    env.finish().await;
}

#[tokio::test]
async fn dlq_replay_with_a_filter_replays_only_the_matching_dead_letters() {
    let vhost = TestVhost::create().await;
    let conn = connect(&vhost.amqp_url, "dlq filter test")
        .await
        .expect("amqp");
    let name = unique_name("filter");
    declare_subscriber_topology(&conn, &name).await;
    let dlq = format!("sub.{name}.dlq");
    for kind in [EntityKind::Unit, EntityKind::Person, EntityKind::Kle] {
        let e = examples::event(EventType {
            kind,
            action: Action::Created,
        });
        let (body, props) = dead_letter(&e, &name, "sink-permanent", 1, "boom");
        publish_confirmed(&conn, &format!("sub.{name}.x"), &dlq, &body, props).await;
    }
    let ctl = Ctl::new(
        "postgres://nobody@127.0.0.1:1/none",
        &vhost,
        "http://127.0.0.1:1",
    );
    let kommune = examples::kommune().to_string();
    let out = ctl
        .run(&[
            "dlq",
            "show",
            &name,
            "--filter",
            &format!("kommune={kommune},kind=person"),
            "--json",
        ])
        .await;
    assert_eq!(out.expect_code(0).json().as_array().map(Vec::len), Some(1));
    let out = ctl
        .run(&[
            "dlq",
            "replay",
            &name,
            "--filter",
            &format!("kommune={kommune},since=2000-01-01"),
            "--filter",
            "kind=unit",
            "--json",
        ])
        .await;
    let report = out.expect_code(0).json();
    assert_eq!(
        report["replayed"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        report["replayed"][0]["type"],
        "dk.orghub.org.unit.created.v1"
    );
    assert_eq!(report["left"], 2);
    eventually(DEADLINE, "one replayed, two left", || async {
        (queue_depth(&conn, &format!("sub.{name}")).await == 1
            && queue_depth(&conn, &dlq).await == 2)
            .then_some(())
    })
    .await;
    // A filter that cannot be read is bad usage, and nothing moves.
    let out = ctl
        .run(&["dlq", "replay", &name, "--filter", "kommune=9999"])
        .await;
    out.expect_code(2);
    assert!(out.stderr.contains("kommune"), "{}", out.stderr);
    let out = ctl
        .run(&[
            "dlq",
            "purge",
            &name,
            "--filter",
            "until=2000-01-01",
            "--yes",
        ])
        .await;
    out.expect_code(0);
    assert!(out.stdout.contains("0 removed"), "{}", out.stdout);
    eventually(
        DEADLINE,
        "both dead letters back after the empty purge",
        || async { (queue_depth(&conn, &dlq).await == 2).then_some(()) },
    )
    .await;
    let _ = conn.close(200, "done".into()).await;
    vhost.delete_now().await;
}
