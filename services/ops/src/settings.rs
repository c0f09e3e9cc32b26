//! Connection settings shared by every command (DESIGN §1), from flags or the environment, and
//! what is derived from them: the vhost, AMQP URLs for it, clients.

use orghub_broker::mgmt::{Management, percent_decode, percent_encode};
use orghub_client::WriterClient;
use orghub_runtime::{Secret, redact_url};
use reqwest::Url;

use crate::error::CliError;

/// Where the hub's dependencies are. Every field is also an environment variable.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct Settings {
    /// PostgreSQL URL of the hub's database (the writer's), read by `status` and `console`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/orghub",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// RabbitMQ AMQP URL with an administrator's credentials (`dlq show|replay|purge`); its host
    /// and port go into the configs `subscriber create` prints, its vhost yields to
    /// ORGHUB_VHOST.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true,
        global = true
    )]
    pub amqp_url: String,

    /// RabbitMQ management API URL with an administrator's credentials.
    #[arg(
        long = "rabbitmq-mgmt-url",
        env = "RABBITMQ_MGMT_URL",
        default_value = "http://guest:guest@127.0.0.1:15672",
        hide_env_values = true,
        global = true
    )]
    pub mgmt_url: String,

    /// The RabbitMQ vhost of the hub [default: the vhost of AMQP_URL, `/` for the default URL].
    #[arg(long, env = "ORGHUB_VHOST", hide_env_values = true, global = true)]
    pub vhost: Option<String>,

    /// The writer's base URL (token commands, `subscriber create|delete`, `import`, and
    /// `console` for the hub's documents).
    #[arg(
        long,
        env = "ORGHUB_WRITER_URL",
        default_value = "http://127.0.0.1:8080",
        hide_env_values = true,
        global = true
    )]
    pub writer_url: String,

    /// Admin token of the writer's API (`token` commands, `subscriber create|delete`); also used
    /// by `import` when ORGHUB_TOKEN is not set, and the login of `console`.
    #[arg(
        long,
        env = "ORGHUB_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,

    /// Token for `import` (with `write:<kommune>`); falls back to ORGHUB_ADMIN_TOKEN.
    #[arg(long, env = "ORGHUB_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,

    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The parts of an AMQP URL that generated configs and vhost resolution need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpParts {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub vhost: String,
}

/// Reads scheme, host, port and vhost of an AMQP URL (`amqp://u:p@host:port/%2f`). As the
/// RabbitMQ URI spec says, no path is the default vhost `/`, and the path is percent-decoded.
pub fn amqp_parts(url: &str) -> Result<AmqpParts, CliError> {
    let bad = |detail: &str| {
        CliError::usage(format!(
            "AMQP_URL {:?} is not usable: {detail}",
            redact_url(url)
        ))
    };
    let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let scheme = parsed.scheme().to_owned();
    let default_port = match scheme.as_str() {
        "amqp" => 5672,
        "amqps" => 5671,
        _ => return Err(bad("the scheme must be amqp or amqps")),
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("it has no host"))?
        .to_owned();
    let vhost = match parsed.path() {
        "" => "/".to_owned(),
        path => percent_decode(&path[1..]),
    };
    Ok(AmqpParts {
        scheme,
        host,
        port: parsed.port().unwrap_or(default_port),
        vhost,
    })
}

impl Settings {
    /// ORGHUB_VHOST, or the vhost of AMQP_URL.
    pub fn vhost(&self) -> Result<String, CliError> {
        match self.vhost.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => Ok(v.to_owned()),
            None => Ok(amqp_parts(&self.amqp_url)?.vhost),
        }
    }

    /// AMQP_URL pointed at [`Settings::vhost`].
    pub fn amqp_url_for_vhost(&self) -> Result<String, CliError> {
        let vhost = self.vhost()?;
        amqp_parts(&self.amqp_url)?;
        let mut url = Url::parse(&self.amqp_url).map_err(|e| CliError::usage(e.to_string()))?;
        url.set_path(&format!("/{}", percent_encode(&vhost)));
        Ok(url.to_string())
    }

    pub fn management(&self) -> Result<Management, CliError> {
        Management::parse(&self.mgmt_url)
            .map_err(|e| CliError::usage(format!("RABBITMQ_MGMT_URL: {e}")))
    }

    /// A client of the writer's admin API.
    pub fn writer_admin(&self) -> Result<WriterClient, CliError> {
        let token = self.admin_token.as_deref().or(self.token.as_deref());
        self.writer(token, "ORGHUB_ADMIN_TOKEN")
    }

    /// A client of the writer's API for data (imports): ORGHUB_TOKEN, else the admin token.
    pub fn writer_data(&self) -> Result<WriterClient, CliError> {
        let token = self
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(self.admin_token.as_deref());
        self.writer(token, "ORGHUB_TOKEN (or ORGHUB_ADMIN_TOKEN)")
    }

    /// A client of ORGHUB_WRITER_URL with `token`; `token_var` names where it comes from, for the
    /// message when it is missing.
    fn writer(&self, token: Option<&str>, token_var: &str) -> Result<WriterClient, CliError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CliError::usage(format!("no token for the writer: set {token_var}")))?;
        WriterClient::parse(&self.writer_url, Secret::new(token))
            .map_err(|e| CliError::usage(format!("ORGHUB_WRITER_URL: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        settings: Settings,
    }

    fn settings(args: &[&str]) -> Settings {
        let mut all = vec!["probe"];
        all.extend_from_slice(args);
        Probe::parse_from(all).settings
    }

    #[test]
    fn a_missing_token_or_a_bad_writer_url_is_a_usage_error() {
        let mut s = settings(&["--writer-url", "http://127.0.0.1:8080"]);
        s.admin_token = None;
        s.token = None;
        let e = s.writer_admin().expect_err("no token");
        assert!(e.to_string().contains("ORGHUB_ADMIN_TOKEN"), "{e}");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        let s = settings(&["--writer-url", "ftp://x:secret@h", "--token", "t"]);
        let e = s.writer_data().expect_err("bad scheme");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn amqp_urls_give_host_port_and_decoded_vhost() {
        let p = amqp_parts("amqp://guest:guest@127.0.0.1:5672/%2f").expect("valid");
        assert_eq!(
            p,
            AmqpParts {
                scheme: "amqp".into(),
                host: "127.0.0.1".into(),
                port: 5672,
                vhost: "/".into()
            }
        );
        assert_eq!(amqp_parts("amqps://h").expect("valid").port, 5671);
        assert_eq!(amqp_parts("amqp://h").expect("valid").vhost, "/");
        assert_eq!(
            amqp_parts("amqp://h/orghub-test-1").expect("valid").vhost,
            "orghub-test-1"
        );
        let e = amqp_parts("http://u:secret@h").expect_err("not amqp");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        assert!(!e.to_string().contains("secret"));
    }

    #[test]
    fn the_vhost_setting_wins_over_the_url_and_is_put_into_it() {
        let s = settings(&["--amqp-url", "amqp://u:p@h:5673/%2f", "--vhost", "hub/a"]);
        assert_eq!(s.vhost().expect("vhost"), "hub/a");
        assert_eq!(
            s.amqp_url_for_vhost().expect("url"),
            "amqp://u:p@h:5673/hub%2Fa"
        );
        let s = settings(&["--amqp-url", "amqp://u:p@h/orghub"]);
        assert_eq!(s.vhost().expect("vhost"), "orghub");
    }
}
