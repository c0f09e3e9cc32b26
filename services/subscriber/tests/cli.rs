//! The binary's command line: `--help` documents every setting, bad configuration exits before
//! anything connects. (Running the binary here also makes cargo build it for the black-box
//! scenarios in `tests/`.)

use std::process::Command;

fn subscriber() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orghub-subscriber"));
    for var in [
        "ORGHUB_SUBSCRIBER_CONFIG",
        "ORGHUB_SUBSCRIBER_NAME",
        "AMQP_URL",
        "RABBITMQ_MGMT_URL",
        "ORGHUB_WRITER_URL",
        "ORGHUB_WRITER_TOKEN",
        "ORGHUB_SUBSCRIBER_METRICS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn help_documents_every_environment_variable_and_config_key() {
    let out = subscriber().arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "ORGHUB_SUBSCRIBER_CONFIG",
        "ORGHUB_SUBSCRIBER_NAME",
        "AMQP_URL",
        "RABBITMQ_MGMT_URL",
        "ORGHUB_WRITER_URL",
        "ORGHUB_WRITER_TOKEN",
        "ORGHUB_SUBSCRIBER_METRICS",
        "resync",
        "management_url",
        "metrics_listen",
        "batch_size",
        "prefetch",
        "[[bindings]]",
        "kinds",
        "in_process",
        "tiers",
        "delivery_limit",
        "[sink]",
        "timeout_ms",
        "secret",
        "path",
    ] {
        assert!(
            help.contains(needle),
            "--help does not mention {needle}:\n{help}"
        );
    }
}

#[test]
fn a_bad_config_file_exits_non_zero_naming_the_field_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub.toml");
    std::fs::write(
        &path,
        "name = \"x\"\nwriter_url = \"http://127.0.0.1:1\"\nwriter_token = \"t\"\n\
         [[bindings]]\nkommune = \"9999\"\n[sink]\ntype = \"ndjson\"\npath = \"/tmp/x\"\n",
    )
    .expect("write config");
    let out = subscriber()
        .arg("--config")
        .arg(&path)
        // Nothing listens here: an attempt to connect would hang or fail differently.
        .env("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bindings[0].kommune"), "{stderr}");

    let out = subscriber()
        .env("ORGHUB_SUBSCRIBER_CONFIG", dir.path().join("missing.toml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn environment_overrides_are_checked_like_the_file() {
    let out = subscriber()
        .env("ORGHUB_SUBSCRIBER_NAME", "Not_Valid")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name"));
}
