//! The `orghubctl` binary's help: every setting's environment variable and the exit codes are
//! documented. (Also makes `cargo test -p orghub-ops` build the binary the scenarios run.)

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_orghubctl"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run orghubctl --help");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_documents_every_environment_variable_the_commands_and_the_exit_codes() {
    let text = help(&[]);
    for var in [
        "DATABASE_URL",
        "AMQP_URL",
        "RABBITMQ_MGMT_URL",
        "ORGHUB_VHOST",
        "ORGHUB_WRITER_URL",
        "ORGHUB_ADMIN_TOKEN",
        "ORGHUB_TOKEN",
    ] {
        assert!(text.contains(var), "--help lacks {var}:\n{text}");
    }
    for command in ["status", "dlq", "subscriber", "token", "import"] {
        assert!(text.contains(command), "--help lacks {command}");
    }
    for code in [
        "0  ok",
        "1  failure talking to a dependency",
        "2  bad usage",
        "3  status --check",
        "4  not found",
    ] {
        assert!(text.contains(code), "--help lacks exit code {code:?}");
    }
}

#[test]
fn every_subcommand_has_help_with_the_exit_codes() {
    for args in [
        &["status"][..],
        &["dlq", "replay"],
        &["dlq", "purge"],
        &["subscriber", "create"],
        &["token", "create"],
        &["import"],
    ] {
        let text = help(args);
        assert!(text.contains("Exit codes:"), "{args:?}:\n{text}");
    }
}
