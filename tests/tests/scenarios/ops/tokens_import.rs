//! `orghubctl token ...` and `orghubctl import` against an in-process writer, and how bad input
//! and unreachable dependencies are reported (exit codes, URLs without passwords).

use std::io::Write as _;

use orghub_tests::fixtures::{id, unit_line};
use orghub_tests::ops::Ctl;
use orghub_tests::{HubOptions, TestHub, TestVhost};
use reqwest::Method;
use serde_json::json;

/// Writes `lines` to the file `name` in `dir` and returns its path.
fn write_file(dir: &tempfile::TempDir, name: &str, lines: &[String]) -> String {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create file");
    for l in lines {
        // Fixture lines end in a newline already; lines written by hand here do not.
        write!(f, "{l}").expect("write");
        if !l.ends_with('\n') {
            writeln!(f).expect("write");
        }
    }
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_token_created_with_write_751_writes_751_and_is_refused_on_101() {
    let env = TestHub::start(HubOptions::default()).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = env
        .ctl()
        .run(&[
            "token",
            "create",
            "--name",
            "hr-system",
            "--scope",
            "write:751",
            "--json",
        ])
        .await;
    let created = out.expect_code(0).json();
    let token = created["token"].as_str().expect("the secret").to_owned();
    let token_id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created["scopes"], json!(["write:751"]));

    let state = json!({"validity": {"from": "2020-01-01"}, "name": "Rod", "parent": null});
    let put = |k: &str| format!("/api/v1/{k}/units/{}", id(1));
    let own = env
        .writer
        .call(Method::PUT, &put("751"), Some(&token), Some(&state))
        .await;
    assert_eq!(own.status, 201, "{}", own.text);
    let other = env
        .writer
        .call(Method::PUT, &put("101"), Some(&token), Some(&state))
        .await;
    assert_eq!(other.status, 403, "{}", other.text);

    // Imports with the token: its municipality yes, another no (a refused token is exit 2).
    let file = write_file(&dir, "units.ndjson", &[unit_line(1, None)]);
    let as_token = env.ctl().with_env("ORGHUB_TOKEN", &token);
    as_token
        .run(&["import", &file, "--kommune", "751"])
        .await
        .expect_code(0);
    let out = as_token.run(&["import", &file, "--kommune", "101"]).await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("refused the token (403"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("write:101"), "{}", out.stderr);

    let out = env.ctl().run(&["token", "list"]).await;
    assert!(
        out.expect_code(0).stdout.contains("hr-system"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(&token),
        "a listing never shows a secret"
    );
    let out = env
        .ctl()
        .run(&["token", "create", "--name", "x", "--scope", "write:9999"])
        .await;
    out.expect_code(2);
    assert!(out.stderr.contains("/scopes/0"), "{}", out.stderr);

    env.ctl()
        .run(&["token", "revoke", &token_id])
        .await
        .expect_code(0);
    let after = env
        .writer
        .call(Method::GET, &put("751"), Some(&token), None)
        .await;
    assert_eq!(after.status, 401);
    let listed = env
        .ctl()
        .run(&["token", "list", "--json"])
        .await
        .expect_code(0)
        .json();
    let mine = listed
        .as_array()
        .and_then(|l| l.iter().find(|t| t["id"] == token_id.as_str()).cloned())
        .expect("the revoked token is listed");
    assert!(mine["revoked_at"].is_string(), "{mine}");
    let out = env.ctl().run(&["token", "revoke", &token_id]).await;
    out.expect_code(4);
    env.stop().await;
}

#[tokio::test]
async fn malformed_import_lines_are_reported_by_number_and_the_good_lines_are_imported() {
    let env = TestHub::start(HubOptions::default()).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lines = vec![
        unit_line(1, None),
        "{ this is not json".to_owned(),
        unit_line(2, Some(1)),
        json!({"kind": "unit", "uuid": id(3), "state": {"validity": {"from": "2020-01-01"}, "parent": id(1)}}).to_string(),
        unit_line(4, Some(2)),
    ];
    let file = write_file(&dir, "municipality.ndjson", &lines);
    let out = env.ctl().run(&["import", &file, "--kommune", "751"]).await;
    out.expect_code(2);
    assert!(out.stdout.contains("line 2: not JSON"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("line 4 ({}): /state/name", id(3))),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("created 3"), "{}", out.stdout);
    assert!(
        out.stderr.contains("2 of 5 lines rejected"),
        "{}",
        out.stderr
    );
    for n in [1, 2, 4] {
        let r = env
            .writer
            .get(&format!("/api/v1/751/units/{}", id(n)))
            .await;
        assert_eq!(r.status, 200, "unit {n} was not imported: {}", r.text);
    }

    // The same file again, as JSON: nothing changes, the same lines are refused.
    let out = env
        .ctl()
        .run(&["import", &file, "--kommune", "751", "--json"])
        .await;
    let summary = out.expect_code(2).json();
    assert_eq!(summary["unchanged"], 3);
    assert_eq!(summary["rejected_count"], 2);
    assert_eq!(summary["rejected"][0]["line"], 2);

    // A full import of a clean file ends what it no longer has.
    let full = write_file(
        &dir,
        "full.ndjson",
        &[unit_line(1, None), unit_line(2, Some(1))],
    );
    let out = env
        .ctl()
        .run(&[
            "import",
            &full,
            "--kommune",
            "751",
            "--mode",
            "full",
            "--json",
        ])
        .await;
    let summary = out.expect_code(0).json();
    assert_eq!(summary["unchanged"], 2);
    assert_eq!(
        summary["terminated"].as_u64().unwrap_or(0) + summary["deleted"].as_u64().unwrap_or(0),
        1
    );

    let out = env
        .ctl()
        .run(&["import", "/no/such/file.ndjson", "--kommune", "751"])
        .await;
    out.expect_code(2);
    assert!(
        out.stderr.contains("cannot read /no/such/file.ndjson"),
        "{}",
        out.stderr
    );
    env.ctl()
        .run(&["import", &file, "--kommune", "999"])
        .await
        .expect_code(2);
    env.stop().await;
}

#[tokio::test]
async fn unreachable_dependencies_exit_1_naming_the_url_without_its_password() {
    let vhost = TestVhost::create().await;
    let ctl = Ctl::new(
        "postgres://postgres@127.0.0.1:5432/postgres",
        &vhost,
        "http://127.0.0.1:1",
    );

    let out = ctl
        .with_env("RABBITMQ_MGMT_URL", "http://ops:s3cret@127.0.0.1:1")
        .run(&["dlq", "list"])
        .await;
    out.expect_code(1);
    assert!(
        out.stderr.contains("http://127.0.0.1:1/api/"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);

    let out = ctl
        .with_env("ORGHUB_WRITER_URL", "http://ops:s3cret@127.0.0.1:1")
        .run(&["token", "list"])
        .await;
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("cannot reach the writer at http://ops:***@127.0.0.1:1"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);

    let out = ctl
        .with_env(
            "DATABASE_URL",
            "postgres://postgres:s3cret@127.0.0.1:1/orghub",
        )
        .run(&["status"])
        .await;
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("postgres://postgres:***@127.0.0.1:1/orghub"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);

    let out = ctl
        .with_env("AMQP_URL", "amqp://guest:s3cret@127.0.0.1:1/%2f")
        .with_env("ORGHUB_VHOST", "/")
        .run(&["dlq", "show", "x"])
        .await;
    out.expect_code(1);
    assert!(
        out.stderr.contains("amqp://guest:***@127.0.0.1:1"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);

    // No admin token at all is a usage error that says what to set.
    let out = ctl
        .with_env("ORGHUB_ADMIN_TOKEN", "")
        .run(&["token", "list"])
        .await;
    out.expect_code(2);
    assert!(out.stderr.contains("ORGHUB_ADMIN_TOKEN"), "{}", out.stderr);
    vhost.delete_now().await;
}
