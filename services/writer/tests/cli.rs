//! The `orghub-writer` binary: bad configuration is refused with a clear message and a non-zero
//! exit before anything binds; `--help` documents every environment variable. (Running the binary
//! here also makes `cargo nextest run --workspace` build it for the black-box scenarios; this test
//! binary uses only std, so it costs almost nothing to link.)

use std::process::Command;

fn writer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orghub-writer"))
}

#[test]
fn bad_configuration_exits_non_zero_with_a_message_before_binding() {
    let out = writer()
        .env("AMQP_URL", "http://not-amqp")
        .env("ORGHUB_LISTEN", "127.0.0.1:1")
        .output()
        .expect("run orghub-writer");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AMQP_URL"), "{stderr}");

    let out = writer()
        .env("ORGHUB_ADMIN_TOKEN", "short")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ORGHUB_ADMIN_TOKEN"));

    let out = writer()
        .env("ORGHUB_LISTEN", "not-an-address")
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
}

#[test]
fn an_unreachable_database_is_reported_clearly() {
    let out = writer()
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/orghub")
        .env("ORGHUB_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
}

#[test]
fn help_documents_every_environment_variable() {
    let out = writer().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "DATABASE_URL",
        "AMQP_URL",
        "ORGHUB_LISTEN",
        "ORGHUB_ADMIN_TOKEN",
        "ORGHUB_RELAY",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
}

/// Values that must never appear in `--help`, each set in the environment of the variable that
/// may carry it.
const SECRETS: [(&str, &str); 3] = [
    (
        "DATABASE_URL",
        "postgres://orghub:pg-hunter2@db:5432/orghub",
    ),
    ("AMQP_URL", "amqp://orghub:mq-hunter2@rabbit:5672/%2f"),
    ("ORGHUB_ADMIN_TOKEN", "admin-hunter2-0123456789"),
];

#[test]
fn help_never_shows_a_secret_from_the_environment() {
    let mut cmd = writer();
    cmd.arg("--help");
    for (var, value) in SECRETS {
        cmd.env(var, value);
    }
    let out = cmd.output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for (var, _) in SECRETS {
        assert!(help.contains(var), "--help lacks {var}");
    }
    assert!(!help.contains("hunter2"), "--help shows a secret:\n{help}");
}

#[test]
fn a_refused_url_is_named_without_its_password() {
    let out = writer()
        .env("AMQP_URL", "http://orghub:mq-hunter2@rabbit/")
        .env("DATABASE_URL", "mysql://orghub:pg-hunter2@db/orghub")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL") || stderr.contains("AMQP_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_admin_token_once_published_in_the_compose_file_is_refused() {
    let out = writer()
        .env("ORGHUB_ADMIN_TOKEN", "change-me-please-0123456789")
        .env("ORGHUB_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ORGHUB_ADMIN_TOKEN") && stderr.contains("published example"),
        "{stderr}"
    );
}

#[test]
fn the_clock_and_midnight_settings_are_documented_and_a_bad_clock_start_is_refused() {
    let out = writer().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for var in ["ORGHUB_CLOCK_START", "ORGHUB_MIDNIGHT"] {
        assert!(help.contains(var), "--help lacks {var}");
    }
    let out = writer()
        .env("ORGHUB_CLOCK_START", "23:59:30")
        .env("ORGHUB_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ORGHUB_CLOCK_START") && stderr.contains("RFC 3339"),
        "{stderr}"
    );
}
