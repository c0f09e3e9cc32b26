//! The front door: `orghubctl generate` is deterministic and `orghubctl demo` (the README's main
//! command, here with a small organisation) converges and prints its summary.

use std::process::Command;

use orghub_tests::cargo_bin;

fn orghubctl(args: &[&str]) -> std::process::Output {
    Command::new(cargo_bin("orghubctl"))
        .args(args)
        .output()
        .expect("run orghubctl")
}

#[test]
fn generate_is_deterministic_for_a_seed_and_writes_import_lines() {
    let args = [
        "generate",
        "--kommune",
        "825",
        "--size",
        "small",
        "--seed",
        "7",
    ];
    let first = orghubctl(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = orghubctl(&args);
    assert_eq!(first.stdout, second.stdout, "same seed, same bytes");
    let other = orghubctl(&[
        "generate",
        "--kommune",
        "825",
        "--size",
        "small",
        "--seed",
        "8",
    ]);
    assert_ne!(
        first.stdout, other.stdout,
        "another seed, another organisation"
    );
    let text = String::from_utf8(first.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(lines.len() > 1000, "{}", lines.len());
    assert!(lines.iter().all(|l| l["kind"].is_string()
        && l["uuid"].is_string()
        && l["state"]["validity"].is_object()));

    let changes = orghubctl(&[
        "generate",
        "--kommune",
        "825",
        "--size",
        "small",
        "--changes",
        "20",
    ]);
    let ops = String::from_utf8(changes.stdout).expect("utf-8");
    assert_eq!(ops.lines().count(), 20);
    assert!(ops.lines().all(|l| l.contains("\"op\"")));

    let bad = orghubctl(&["generate", "--kommune", "999"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Uses the fixed demo databases and vhost, like a user's run; nothing else uses them.
#[test]
fn the_demo_converges_and_prints_its_summary() {
    let out = Command::new(cargo_bin("orghubctl"))
        .args([
            "demo",
            "--size",
            "small",
            "--changes",
            "40",
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "120",
        ])
        .output()
        .expect("run orghubctl demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("0 rejected"), "{stdout}");
    assert!(stdout.contains("subscriber cache  converged"), "{stdout}");
    assert!(stdout.contains("dead letters      0"), "{stdout}");
    assert!(stdout.contains("Where to look next"), "{stdout}");
}
