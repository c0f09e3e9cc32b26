//! The deploy files users run without us: `docker-compose.yml`, `deploy/Dockerfile`, the RabbitMQ
//! definitions and the example subscriber configs. There is no Docker engine here, so they are
//! checked by reading: services, healthchecks, mounted files, ports, and every environment
//! variable against the binaries' own `--help`.

use std::path::{Path, PathBuf};
use std::process::Command;

use orghub_tests::cargo_bin;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compose() -> Value {
    let text =
        std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    let mut yaml: serde_norway::Value =
        serde_norway::from_str(&text).expect("docker-compose.yml is YAML");
    yaml.apply_merge().expect("merge keys resolve");
    serde_json::to_value(yaml).expect("as JSON")
}

fn help(binary: &str) -> String {
    let out = Command::new(cargo_bin(binary))
        .arg("--help")
        .output()
        .expect("run --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn compose_wires_every_service_with_healthchecks_and_existing_files() {
    let c = compose();
    let services = c["services"].as_object().expect("services");
    for name in [
        "postgres",
        "rabbitmq",
        "writer",
        "subscriber-token",
        "subscriber-example",
    ] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    for name in ["postgres", "rabbitmq", "writer"] {
        assert!(
            services[name]["healthcheck"]["test"].is_array(),
            "{name} has no healthcheck"
        );
    }
    assert_eq!(
        services["writer"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        services["writer"]["depends_on"]["rabbitmq"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        services["subscriber-token"]["depends_on"]["writer"]["condition"],
        "service_healthy"
    );
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let spec = volume.as_str().expect("short volume syntax");
            if let Some(local) = spec.strip_prefix("./") {
                let file = local.split(':').next().expect("host path");
                assert!(root().join(file).exists(), "{name} mounts missing {file}");
            }
        }
    }
    let writer = &services["writer"];
    let listen = writer["environment"]["ORGHUB_LISTEN"]
        .as_str()
        .expect("ORGHUB_LISTEN");
    let port = listen.rsplit(':').next().expect("port");
    assert!(
        writer["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.ends_with(&format!(":{port}")))),
        "the writer's port {port} is published"
    );
    assert_eq!(writer["build"]["dockerfile"], "deploy/Dockerfile");
}

#[test]
fn every_environment_variable_in_compose_is_one_the_binary_reads() {
    let c = compose();
    let services = &c["services"];
    let known_elsewhere = ["RUST_LOG", "POSTGRES_HOST_AUTH_METHOD", "POSTGRES_DB"];
    for (service, binary) in [
        ("writer", "orghub-writer"),
        ("subscriber-example", "orghub-subscriber"),
        ("subscriber-token", "orghubctl"),
    ] {
        let help = help(binary);
        for var in services[service]["environment"]
            .as_object()
            .expect("environment")
            .keys()
        {
            if known_elsewhere.contains(&var.as_str()) {
                continue;
            }
            assert!(
                help_contains(&help, var),
                "{service}: {var} is not read by {binary}"
            );
        }
    }
    let cmd = services["writer"]["command"][0].as_str().expect("command");
    assert_eq!(cmd, "orghub-writer");
    for (service, binary) in [
        ("subscriber-example", "exec orghub-subscriber"),
        ("subscriber-token", "orghubctl token create"),
    ] {
        let script = services[service]["command"][2].as_str().unwrap_or("");
        assert_eq!(services[service]["command"][0], "sh", "{service}");
        assert!(script.contains(binary), "{service} runs {binary}: {script}");
    }
}

#[test]
fn compose_has_no_default_admin_token_and_gives_the_subscriber_only_a_read_token() {
    let c = compose();
    let services = &c["services"];
    for service in ["writer", "subscriber-token"] {
        let token = services[service]["environment"]["ORGHUB_ADMIN_TOKEN"]
            .as_str()
            .expect("ORGHUB_ADMIN_TOKEN");
        assert!(
            token.starts_with("${ORGHUB_ADMIN_TOKEN:?"),
            "{service}: ORGHUB_ADMIN_TOKEN must be required, without a default: {token}"
        );
    }
    let subscriber = &services["subscriber-example"];
    let env = subscriber["environment"].as_object().expect("environment");
    assert!(!env.contains_key("ORGHUB_ADMIN_TOKEN"));
    assert!(
        !env.contains_key("ORGHUB_WRITER_TOKEN"),
        "the subscriber's token comes from subscriber-token's volume"
    );
    let made = services["subscriber-token"]["command"][2]
        .as_str()
        .expect("a script");
    let scopes: Vec<&str> = made
        .split_whitespace()
        .skip_while(|w| *w != "create")
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "--scope")
        .map(|w| w[1])
        .collect();
    assert!(!scopes.is_empty(), "{made}");
    assert!(
        scopes.iter().all(|s| s.starts_with("read:")),
        "only read scopes: {scopes:?}"
    );
    assert_eq!(
        subscriber["depends_on"]["subscriber-token"]["condition"],
        "service_completed_successfully"
    );
}

fn help_contains(help: &str, var: &str) -> bool {
    help.contains(&format!("[env: {var}=")) || help.contains(&format!("[env: {var}]"))
}

#[test]
fn the_dockerfile_builds_every_binary_by_its_real_name() {
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    for binary in ["orghub-writer", "orghub-subscriber", "orghubctl"] {
        assert!(
            dockerfile.contains(&format!("--bin {binary}")),
            "Dockerfile does not build {binary}"
        );
        assert!(
            cargo_bin(binary).exists(),
            "{binary} is a binary of the workspace"
        );
    }
    assert!(dockerfile.contains("--locked"));
}

#[test]
fn the_rabbitmq_definitions_declare_the_events_exchange() {
    let text = std::fs::read_to_string(root().join("deploy/rabbitmq/definitions.json"))
        .expect("definitions");
    let defs: Value = serde_json::from_str(&text).expect("definitions are JSON");
    let exchange = defs["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .find(|e| e["name"] == orghub_contracts::amqp::EXCHANGE)
        .expect("org.events is declared");
    assert_eq!(exchange["type"], "topic");
    assert_eq!(exchange["durable"], true);
    let plugins =
        std::fs::read_to_string(root().join("deploy/rabbitmq/enabled_plugins")).expect("plugins");
    assert!(plugins.contains("rabbitmq_management") && plugins.contains("rabbitmq_prometheus"));
}

#[test]
fn the_subscriber_configs_in_deploy_parse_with_the_compose_environment() {
    let c = compose();
    let env = &c["services"]["subscriber-example"]["environment"];
    let var = |name: &str| env[name].as_str().map(str::to_owned);
    let overrides = orghub_subscriber::config::Overrides {
        amqp_url: var("AMQP_URL"),
        management_url: var("RABBITMQ_MGMT_URL"),
        writer_url: var("ORGHUB_WRITER_URL"),
        // Set by the service's command from subscriber-token's volume.
        writer_token: Some("ohk_made-by-subscriber-token".into()),
        metrics_listen: var("ORGHUB_SUBSCRIBER_METRICS"),
        ..Default::default()
    };
    for file in [
        "deploy/compose/subscriber.toml",
        "deploy/subscriber.example.toml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).expect("config file");
        orghub_subscriber::Config::parse(&text, file, &overrides)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
