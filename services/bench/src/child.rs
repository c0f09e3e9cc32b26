//! The writer and the subscriber as child processes, so their CPU time and peak memory can be
//! read per process from `/proc`.
//!
//! The bench re-executes its own binary with `--role writer|subscriber --config FILE`; that child
//! runs `orghub_writer::Application` or `orghub_subscriber::Subscriber` in-process, exactly as
//! their own binaries do, and talks to the parent over two pipes:
//!
//! - stdout: one line `ready port=<p>` (writer, once listening) or `ready metrics=<addr>` then
//!   `consuming` (subscriber, once its consumer is attached);
//! - stdin: the parent closing it is the shutdown signal (graceful: the HTTP server drains, the
//!   relay finishes its round, the subscriber settles the batch in hand). A parent that dies
//!   closes it too, so no child outlives the bench.
//!
//! stderr goes to a log file per child (level `warn` unless `ORGHUB_BENCH_CHILD_LOG` says
//! otherwise); its tail is shown when a child fails. `ORGHUB_BENCH_WRAP_WRITER` and
//! `ORGHUB_BENCH_WRAP_SUBSCRIBER` put a command in front of a child (a profiler, e.g.
//! `valgrind --tool=callgrind`); its figures then include the profiler's overhead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use orghub_runtime::Shutdown;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::procfs::{self, Usage};

/// What a child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// `orghub_writer::Application` (API, and the relay unless the config turns it off).
    Writer,
    /// `orghub_subscriber::Subscriber` consuming (`Command::Run`).
    Subscriber,
}

impl Role {
    fn word(self) -> &'static str {
        match self {
            Role::Writer => "writer",
            Role::Subscriber => "subscriber",
        }
    }
}

/// The writer child's config file. Everything else comes from the writer's own defaults and
/// environment (`ORGHUB_RELAY_BATCH`, `ORGHUB_RELAY_POLL_MS`, `ORGHUB_DB_POOL`), as for
/// `orghub-writer` itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriterFile {
    pub database_url: String,
    pub amqp_url: String,
    pub listen: String,
    pub admin_token: String,
    pub relay: bool,
    /// `ORGHUB_CLOCK_START` of the writer (RFC 3339), for the midnight phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_start: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Child side.

/// Runs `role` until stdin closes. Called by `main` for `--role`.
pub async fn run_role(role: Role, config: &Path) -> anyhow::Result<()> {
    let filter = std::env::var("ORGHUB_BENCH_CHILD_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    match role {
        Role::Writer => {
            let file: WriterFile = toml::from_str(&text).context("writer role config")?;
            let mut config = orghub_writer::Config::try_parse_from(["orghub-writer"])
                .context("the writer's defaults and environment")?;
            config.database_url = file.database_url.parse()?;
            config.amqp_url = file.amqp_url.parse()?;
            config.listen = file.listen.parse().context("listen address")?;
            config.admin_token = Some(file.admin_token.into());
            config.relay = file.relay;
            if let Some(start) = &file.clock_start {
                let start: orghub_writer::clock::ClockStart =
                    start.parse().map_err(|e: String| anyhow::anyhow!(e))?;
                config.clock_start = Some(orghub_writer::clock::Clock::starting_at(start.0));
            }
            let app = orghub_writer::Application::build(config).await?;
            say(&format!("ready port={}", app.port()));
            app.run_until_stopped(stdin_closed()).await
        }
        Role::Subscriber => {
            let config = orghub_subscriber::Config::from_toml(&text)?;
            let subscriber = orghub_subscriber::Subscriber::build(config).await?;
            let metrics = subscriber.metrics();
            say(&format!("ready metrics={}", subscriber.metrics_addr()));
            tokio::spawn(async move {
                while metrics.connected.get() != 1 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                say("consuming");
            });
            subscriber
                .run_until_stopped(orghub_subscriber::Command::Run, stdin_closed())
                .await
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A token cancelled when the parent closes our stdin (or dies).
fn stdin_closed() -> Shutdown {
    let stop = Shutdown::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        cancel.cancel();
    });
    stop
}

// ---------------------------------------------------------------------------------------------
// Parent side.

/// A running child process.
#[derive(Debug)]
pub struct ChildProcess {
    pub name: String,
    pid: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    log: PathBuf,
}

impl ChildProcess {
    /// Writes `config` to `<dir>/<name>.toml` and starts `orghub-bench --role <role>` on it.
    pub async fn spawn(role: Role, name: &str, config: &str, dir: &Path) -> anyhow::Result<Self> {
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let exe = std::env::current_exe().context("the bench's own path")?;
        // For profiling: `ORGHUB_BENCH_WRAP_WRITER="valgrind --tool=callgrind"` runs the writer
        // children under that command (and likewise `..._SUBSCRIBER`).
        let wrapper = std::env::var(format!(
            "ORGHUB_BENCH_WRAP_{}",
            role.word().to_ascii_uppercase()
        ))
        .unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = tokio::process::Command::new(program);
                c.args(words).arg(exe);
                c
            }
            None => tokio::process::Command::new(exe),
        };
        let mut child = command
            .arg("--role")
            .arg(role.word())
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the {name} child process"))?;
        let pid = child
            .id()
            .with_context(|| format!("the {name} child exited at once"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .map(|s| BufReader::new(s).lines())
            .context("the child's stdout")?;
        Ok(ChildProcess {
            name: name.to_owned(),
            pid,
            child,
            stdin,
            stdout,
            log,
        })
    }

    /// Waits for the next stdout line starting with `prefix` and returns the rest of it.
    pub async fn expect(&mut self, prefix: &str, within: Duration) -> anyhow::Result<String> {
        let name = self.name.clone();
        let stdout = &mut self.stdout;
        let read = async move {
            while let Some(line) = stdout.next_line().await? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.trim().to_owned());
                }
            }
            Err(anyhow::anyhow!("the {name} child exited"))
        };
        match tokio::time::timeout(within, read).await {
            Ok(Ok(rest)) => Ok(rest),
            Ok(Err(e)) => Err(e.context(self.log_tail())),
            Err(_) => Err(anyhow::anyhow!(
                "the {} child did not say {prefix:?} within {within:?}",
                self.name
            )
            .context(self.log_tail())),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn usage(&self) -> Usage {
        procfs::usage(self.pid).unwrap_or_default()
    }

    /// Starts a new peak-RSS window; see [`procfs::reset_peak`].
    pub fn reset_peak(&self) -> bool {
        procfs::reset_peak(self.pid)
    }

    /// Whether the child has exited (then it failed: children only stop when asked).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow::anyhow!(
                "the {} child exited unexpectedly ({status})",
                self.name
            )
            .context(self.log_tail())),
            Err(e) => Err(anyhow::anyhow!(
                "cannot wait for the {} child: {e}",
                self.name
            )),
        }
    }

    /// Graceful stop: close stdin and wait (killing it after 30 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(
                anyhow::anyhow!("the {} child ended with {status}", self.name)
                    .context(self.log_tail()),
            ),
            Ok(Err(e)) => Err(anyhow::anyhow!("waiting for the {} child: {e}", self.name)),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the {} child did not stop within 30 s; killed", self.name)
            }
        }
    }

    /// Lines of the child's log containing `needle` (e.g. a warning), for before/after counts.
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.lines().filter(|l| l.contains(needle)).count())
            .unwrap_or(0)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!(
            "{} child log {} (last lines):\n{tail}",
            self.name,
            self.log.display()
        )
    }
}
