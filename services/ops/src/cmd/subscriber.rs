//! `orghubctl subscriber create|repair|list|delete`: provisioning a subscriber's RabbitMQ user,
//! permissions, topic permissions, topology and policy, and its writer token.
//!
//! Isolation is the broker's (the conventions are `orghub_broker::subscriber`'s): the operator
//! declares the subscriber's whole topology with fixed arguments; its user may configure nothing,
//! only bind its own queue (write), publish retry and dead-letter copies to its own exchange
//! (write), consume its own queue and bind from `org.events` (read), and its topic permissions
//! let it bind only routing keys of its municipalities (`^org\.(751|101)\.`) and publish none
//! there (`^$`). It has no management tag, so the management API (every vendor's queues) is
//! closed to it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use orghub_broker::mgmt::{Management, percent_encode};
use orghub_broker::subscriber::{
    DELIVERY_LIMIT, default_tiers, kommuner_of_topic_permission, topic_read_permission,
};
use orghub_broker::{Delay, SubscriberName, Topology};
use orghub_contracts::{EntityKind, Kommune};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CliError, EXIT_CODES_HELP};
use crate::settings::{Settings, amqp_parts};
use crate::table::{Table, or_dash, print_json};
use orghub_client::WriterClient;
use orghub_contracts::api::TokenRecord;

/// No tags: the management UI and API stay closed to a subscriber, which could list every
/// vendor's queues there. It reads its queue's depth with a passive declare.
const USER_TAGS: &str = "";

/// `subscriber` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SubscriberCommand {
    /// Provision a subscriber: its topology (sub.<name>.x, sub.<name> quorum with a single
    /// active consumer, retry wait queues, DLQ, parked), the policy orghub-sub-<name> (delivery
    /// limit, dead-lettering), RabbitMQ user sub-<name> (random password, shown once) that may
    /// declare nothing and only bind and consume its own queue, topic permissions on org.events
    /// for its municipalities, and a writer token subscriber-<name> with read:<kommune> scopes.
    /// Prints a ready-to-use subscriber config.
    #[command(after_help = EXIT_CODES_HELP)]
    Create(CreateArgs),
    /// Redeclare a subscriber's topology and policy (idempotent) and reset its user's
    /// permissions and tags to what `create` grants today; its password, token and topic
    /// permissions stay. For queues deleted by hand, changed retry tiers, or subscribers made by
    /// an older orghubctl.
    #[command(after_help = EXIT_CODES_HELP)]
    Repair(RepairArgs),
    /// Every subscriber of the vhost: user, municipalities, bindings, queue figures.
    #[command(after_help = EXIT_CODES_HELP)]
    List,
    /// Remove a subscriber: its user, policy, queues (main, retry, DLQ, parked), exchange, and
    /// revoke its writer token. Without --yes, only says what would be removed (exit code 2).
    #[command(after_help = EXIT_CODES_HELP)]
    Delete {
        /// The subscriber's name.
        name: String,
        /// Really remove it, dead letters included.
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `subscriber create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The subscriber's name: 1-63 of a-z, 0-9 and '-', not starting with '-'.
    pub name: String,
    /// A municipality whose events it receives (kommunekode; repeatable).
    #[arg(long = "kommune", required = true, value_name = "KOMMUNE", value_parser = parse_kommune)]
    pub kommuner: Vec<Kommune>,
    /// The entity kinds it receives, comma-separated or repeated [default: all ten].
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<EntityKind>,
    /// The sink URL written into the config [default:
    /// postgres://postgres@127.0.0.1:5432/<name with '-' as '_'>].
    #[arg(long)]
    pub sink_url: Option<String>,
    #[command(flatten)]
    pub queues: QueueArgs,
}

/// How the subscriber's queues behave: fixed by the operator, written into its config.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// The delayed-retry tiers, each a wait queue sub.<name>.retry.<delay> (comma-separated or
    /// repeated; units ms, s, m, h) [default: 5s,1m,10m].
    #[arg(long = "retry-tier", value_name = "DELAY", value_delimiter = ',')]
    pub retry_tiers: Vec<Delay>,
    /// Failed attempts before the broker dead-letters a message on its own (the policy).
    #[arg(long, default_value_t = DELIVERY_LIMIT, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub delivery_limit: u32,
}

impl QueueArgs {
    fn topology(&self, name: &SubscriberName) -> Topology {
        let tiers = if self.retry_tiers.is_empty() {
            default_tiers()
        } else {
            let mut tiers = self.retry_tiers.clone();
            tiers.dedup();
            tiers
        };
        Topology::new(name.clone(), tiers)
    }
}

/// Arguments of `subscriber repair`.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The subscriber's name.
    pub name: String,
    #[command(flatten)]
    pub queues: QueueArgs,
}

fn parse_kommune(s: &str) -> Result<Kommune, String> {
    Kommune::parse(s).map_err(|e| e.to_string())
}

/// The subscriber config `create` prints (TOML), as the subscriber runtime reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriberConfig {
    pub name: String,
    pub amqp_url: String,
    pub writer_url: String,
    pub writer_token: String,
    pub bindings: Vec<Binding>,
    pub retry: Retry,
    pub sink: Sink,
}

/// The queue behaviour the operator fixed, as the subscriber's `[retry]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retry {
    pub tiers: Vec<String>,
    pub delivery_limit: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binding {
    pub kommune: String,
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sink {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

pub async fn run(command: SubscriberCommand, settings: &Settings) -> Result<(), CliError> {
    match command {
        SubscriberCommand::Create(args) => create(args, settings).await,
        SubscriberCommand::Repair(args) => repair(args, settings).await,
        SubscriberCommand::List => list(settings).await,
        SubscriberCommand::Delete { name, yes } => delete(&name, yes, settings).await,
    }
}

fn parse_name(name: &str) -> Result<SubscriberName, CliError> {
    SubscriberName::parse(name).map_err(|e| CliError::usage(e.to_string()))
}

async fn require_vhost(mgmt: &Management, vhost: &str) -> Result<(), CliError> {
    match mgmt.get_json(&["vhosts", vhost]).await? {
        Some(_) => Ok(()),
        None => Err(CliError::NotFound(format!(
            "vhost {vhost:?} does not exist at {}",
            mgmt.base_url()
        ))),
    }
}

fn random_password() -> Result<String, CliError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

async fn create(args: CreateArgs, settings: &Settings) -> Result<(), CliError> {
    let name = parse_name(&args.name)?;
    let mut kommuner = args.kommuner.clone();
    kommuner.sort();
    kommuner.dedup();
    let kinds: Vec<EntityKind> = if args.kinds.is_empty() {
        EntityKind::ALL.to_vec()
    } else {
        let set: BTreeSet<EntityKind> = args.kinds.iter().copied().collect();
        set.into_iter().collect()
    };
    let vhost = settings.vhost()?;
    let amqp = amqp_parts(&settings.amqp_url)?;
    let mgmt = settings.management()?;
    let writer = settings.writer_admin()?;
    require_vhost(&mgmt, &vhost).await?;
    let user = name.user();
    if mgmt.get_json(&["users", &user]).await?.is_some() {
        return Err(CliError::usage(format!(
            "subscriber {name} exists already (RabbitMQ user {user}); delete it first with \
             `orghubctl subscriber delete {name} --yes`"
        )));
    }
    // The token first: if the writer is unreachable, nothing has been changed in RabbitMQ.
    let scopes: Vec<String> = kommuner.iter().map(|k| format!("read:{k}")).collect();
    let token = writer.create_token(&name.token_name(), &scopes).await?;
    let password = random_password()?;
    let topology = args.queues.topology(&name);
    let provisioned = provision(&mgmt, &vhost, &name, &kommuner, &password).await;
    let declared = match &provisioned {
        Ok(()) => declare(settings, &mgmt, &vhost, &topology, &args.queues).await,
        Err(_) => Ok(()),
    };
    if let Err(e) = provisioned.and(declared) {
        // Leave nothing half-made behind: a second `create` must be able to start afresh.
        let _ = mgmt.delete_user(&user).await;
        let _ = mgmt.delete(&["policies", &vhost, &name.policy()]).await;
        let _ = writer.revoke_token(&token.id.to_string()).await;
        return Err(e);
    }
    tracing::info!(subscriber = %name, user, token_id = %token.id, "subscriber created");

    let config = SubscriberConfig {
        name: name.to_string(),
        amqp_url: format!(
            "{}://{}:{}@{}/{}",
            amqp.scheme,
            percent_encode(&user),
            password,
            host_port(&amqp.host, amqp.port),
            percent_encode(&vhost)
        ),
        writer_url: settings.writer_url.trim_end_matches('/').to_owned(),
        writer_token: token.token,
        bindings: kommuner
            .iter()
            .map(|k| Binding {
                kommune: k.to_string(),
                kinds: kinds.iter().map(|k| k.word().to_owned()).collect(),
            })
            .collect(),
        retry: Retry {
            tiers: topology.tiers.iter().map(ToString::to_string).collect(),
            delivery_limit: args.queues.delivery_limit,
        },
        sink: Sink {
            kind: "postgres".into(),
            url: args.sink_url.unwrap_or_else(|| {
                format!(
                    "postgres://postgres@127.0.0.1:5432/{}",
                    name.sink_database()
                )
            }),
        },
    };
    if settings.json {
        print_json(&config);
    } else {
        let text = toml::to_string(&config).context("rendering the subscriber config")?;
        println!(
            "# orghub subscriber config for {name}, made by orghubctl. The password and the token \
             are shown only this once: store this file safely."
        );
        print!("{text}");
    }
    Ok(())
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// User, permissions and topic permissions.
async fn provision(
    mgmt: &Management,
    vhost: &str,
    name: &SubscriberName,
    kommuner: &[Kommune],
    password: &str,
) -> Result<(), CliError> {
    let user = name.user();
    mgmt.create_user(&user, password, USER_TAGS).await?;
    mgmt.grant_permissions(
        vhost,
        &user,
        &name.configure_permission(),
        &name.write_permission(),
        &name.read_permission(),
    )
    .await?;
    mgmt.grant_topic_permissions(
        vhost,
        &user,
        orghub_contracts::amqp::EXCHANGE,
        "^$",
        &topic_read_permission(kommuner),
    )
    .await?;
    Ok(())
}

/// The topology, with administrator credentials, and the policy.
async fn declare(
    settings: &Settings,
    mgmt: &Management,
    vhost: &str,
    topology: &Topology,
    queues: &QueueArgs,
) -> Result<(), CliError> {
    let conn =
        orghub_broker::connect(&settings.amqp_url_for_vhost()?, "orghubctl subscriber").await?;
    let declared = topology
        .declare(&conn)
        .await
        .context("declaring the subscriber's exchange and queues");
    orghub_broker::close_connection(&conn, "orghubctl done").await;
    declared?;
    topology
        .put_policy(mgmt, vhost, queues.delivery_limit)
        .await?;
    Ok(())
}

/// What `repair` did.
#[derive(Debug, Serialize)]
struct Repaired {
    name: String,
    queues: Vec<String>,
    policy: String,
    user: Option<String>,
}

async fn repair(args: RepairArgs, settings: &Settings) -> Result<(), CliError> {
    let name = parse_name(&args.name)?;
    let vhost = settings.vhost()?;
    let mgmt = settings.management()?;
    require_vhost(&mgmt, &vhost).await?;
    let topology = args.queues.topology(&name);
    declare(settings, &mgmt, &vhost, &topology, &args.queues).await?;
    let user = name.user();
    let user = if mgmt.set_user_tags(&user, USER_TAGS).await? {
        mgmt.grant_permissions(
            &vhost,
            &user,
            &name.configure_permission(),
            &name.write_permission(),
            &name.read_permission(),
        )
        .await?;
        Some(user)
    } else {
        tracing::warn!(%user, "no RabbitMQ user of the subscriber: create it with `orghubctl subscriber create`");
        None
    };
    let mut queues = vec![name.queue()];
    queues.extend(topology.tiers.iter().map(|t| name.retry(*t)));
    queues.extend([name.dlq(), name.parked()]);
    let repaired = Repaired {
        name: name.to_string(),
        queues,
        policy: name.policy(),
        user,
    };
    tracing::info!(subscriber = %name, "subscriber repaired");
    if settings.json {
        print_json(&repaired);
    } else {
        println!(
            "declared exchange {} and queues {}",
            name.exchange(),
            repaired.queues.join(", ")
        );
        println!("applied policy {}", repaired.policy);
        match &repaired.user {
            Some(user) => println!("reset permissions and tags of RabbitMQ user {user}"),
            None => println!(
                "no RabbitMQ user {}: run `orghubctl subscriber create`",
                name.user()
            ),
        }
    }
    Ok(())
}

/// One subscriber as `list` shows it.
#[derive(Debug, Default, Serialize)]
struct Listed {
    name: String,
    user: Option<String>,
    policy: bool,
    kommuner: Vec<String>,
    bindings: Vec<String>,
    messages: Option<u64>,
    consumers: Option<u64>,
    dlq: Option<u64>,
    parked: Option<u64>,
}

async fn list(settings: &Settings) -> Result<(), CliError> {
    let vhost = settings.vhost()?;
    let mgmt = settings.management()?;
    require_vhost(&mgmt, &vhost).await?;
    let mut all: BTreeMap<SubscriberName, Listed> = BTreeMap::new();
    for q in mgmt.queues(&vhost).await? {
        let Some(name) = SubscriberName::of_queue(&q.name) else {
            continue;
        };
        let listed = all.entry(name.clone()).or_insert_with(|| Listed {
            name: name.to_string(),
            ..Listed::default()
        });
        if q.name == name.queue() {
            listed.messages = Some(q.messages);
            listed.consumers = Some(q.consumers);
        } else if q.name == name.dlq() {
            listed.dlq = Some(q.messages);
        } else if q.name == name.parked() {
            listed.parked = Some(q.messages);
        }
    }
    let permissions = mgmt
        .get_json(&["vhosts", &vhost, "permissions"])
        .await?
        .unwrap_or(Value::Null);
    for p in permissions.as_array().into_iter().flatten() {
        let Some(user) = p.get("user").and_then(Value::as_str) else {
            continue;
        };
        if let Some(name) = SubscriberName::of_user(user) {
            all.entry(name.clone())
                .or_insert_with(|| Listed {
                    name: name.to_string(),
                    ..Listed::default()
                })
                .user = Some(user.to_owned());
        }
    }
    let policies: BTreeSet<String> = mgmt
        .get_json(&["policies", &vhost])
        .await?
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for (name, listed) in &mut all {
        listed.policy = policies.contains(&name.policy());
        if let Some(user) = &listed.user
            && let Some(topic) = mgmt.get_json(&["topic-permissions", &vhost, user]).await?
        {
            listed.kommuner = topic
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t.get("exchange").and_then(Value::as_str)
                        == Some(orghub_contracts::amqp::EXCHANGE)
                })
                .filter_map(|t| t.get("read").and_then(Value::as_str))
                .flat_map(kommuner_of_topic_permission)
                .map(|k| k.to_string())
                .collect();
        }
        if listed.messages.is_some()
            && let Some(bindings) = mgmt
                .get_json(&["queues", &vhost, &name.queue(), "bindings"])
                .await?
        {
            listed.bindings = bindings
                .as_array()
                .into_iter()
                .flatten()
                .filter(|b| {
                    b.get("source").and_then(Value::as_str)
                        == Some(orghub_contracts::amqp::EXCHANGE)
                })
                .filter_map(|b| {
                    b.get("routing_key")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
        }
    }
    let rows: Vec<Listed> = all.into_values().collect();
    if settings.json {
        print_json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no subscribers in vhost {vhost}");
        return Ok(());
    }
    let mut table = Table::new(&[
        "SUBSCRIBER",
        "USER",
        "POLICY",
        "KOMMUNER",
        "BINDINGS",
        "MESSAGES",
        "CONSUMERS",
        "DLQ",
        "PARKED",
    ]);
    for r in rows {
        let join = |v: &[String]| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(",")
            }
        };
        table.row(vec![
            r.name,
            or_dash(r.user),
            if r.policy { "yes" } else { "no" }.to_owned(),
            join(&r.kommuner),
            join(&r.bindings),
            or_dash(r.messages),
            or_dash(r.consumers),
            or_dash(r.dlq),
            or_dash(r.parked),
        ]);
    }
    table.print();
    Ok(())
}

/// What `delete` found to remove.
#[derive(Debug, Default, Serialize)]
struct Found {
    user: Option<String>,
    /// The user also has permissions on other vhosts: only this vhost's are removed.
    user_shared_with: Vec<String>,
    policy: Option<String>,
    queues: Vec<(String, u64)>,
    exchange: Option<String>,
    tokens: Vec<TokenRecord>,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.policy.is_none()
            && self.queues.is_empty()
            && self.exchange.is_none()
            && self.tokens.is_empty()
    }

    fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(user) = &self.user {
            if self.user_shared_with.is_empty() {
                out.push(format!("RabbitMQ user {user}"));
            } else {
                out.push(format!(
                    "permissions of RabbitMQ user {user} on this vhost (the user stays: it also \
                     has permissions on {})",
                    self.user_shared_with.join(", ")
                ));
            }
        }
        if let Some(p) = &self.policy {
            out.push(format!("policy {p}"));
        }
        for (q, n) in &self.queues {
            out.push(format!("queue {q} ({n} messages)"));
        }
        if let Some(x) = &self.exchange {
            out.push(format!("exchange {x}"));
        }
        for t in &self.tokens {
            out.push(format!("writer token {} ({})", t.id, t.name));
        }
        out
    }
}

async fn find(
    mgmt: &Management,
    writer: &WriterClient,
    vhost: &str,
    name: &SubscriberName,
) -> Result<Found, CliError> {
    let mut found = Found::default();
    let user = name.user();
    if mgmt.get_json(&["users", &user]).await?.is_some() {
        let permissions = mgmt
            .get_json(&["users", &user, "permissions"])
            .await?
            .unwrap_or(Value::Null);
        found.user_shared_with = permissions
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("vhost").and_then(Value::as_str))
            .filter(|v| *v != vhost)
            .map(str::to_owned)
            .collect();
        found.user = Some(user);
    }
    if mgmt
        .get_json(&["policies", vhost, &name.policy()])
        .await?
        .is_some()
    {
        found.policy = Some(name.policy());
    }
    for q in mgmt.queues(vhost).await? {
        if SubscriberName::of_queue(&q.name).as_ref() == Some(name) {
            found.queues.push((q.name, q.messages));
        }
    }
    if mgmt
        .get_json(&["exchanges", vhost, &name.exchange()])
        .await?
        .is_some()
    {
        found.exchange = Some(name.exchange());
    }
    found.tokens = writer
        .list_tokens()
        .await?
        .into_iter()
        .filter(|t| t.name == name.token_name() && t.revoked_at.is_none())
        .collect();
    Ok(found)
}

async fn delete(name: &str, yes: bool, settings: &Settings) -> Result<(), CliError> {
    let name = parse_name(name)?;
    let vhost = settings.vhost()?;
    let mgmt = settings.management()?;
    let writer = settings.writer_admin()?;
    require_vhost(&mgmt, &vhost).await?;
    let found = find(&mgmt, &writer, &vhost, &name).await?;
    if found.is_empty() {
        return Err(CliError::NotFound(format!(
            "no subscriber {name} in vhost {vhost}: no user {}, policy, queue, exchange or \
             writer token of it",
            name.user()
        )));
    }
    let what = found.describe();
    if !yes {
        println!("would remove:");
        for w in &what {
            println!("  {w}");
        }
        return Err(CliError::usage(format!(
            "refusing to delete subscriber {name} without --yes ({} things to remove)",
            what.len()
        )));
    }
    // The user first: that closes its connections, so the subscriber cannot declare again what
    // is being removed.
    if let Some(user) = &found.user {
        if found.user_shared_with.is_empty() {
            mgmt.delete_user(user).await?;
        } else {
            mgmt.delete(&["permissions", &vhost, user]).await?;
            mgmt.delete(&["topic-permissions", &vhost, user]).await?;
        }
    }
    if let Some(policy) = &found.policy {
        mgmt.delete(&["policies", &vhost, policy]).await?;
    }
    for (queue, _) in &found.queues {
        mgmt.delete(&["queues", &vhost, queue]).await?;
    }
    if let Some(exchange) = &found.exchange {
        mgmt.delete(&["exchanges", &vhost, exchange]).await?;
    }
    for token in &found.tokens {
        writer.revoke_token(&token.id.to_string()).await?;
    }
    tracing::info!(subscriber = %name, removed = ?what, "subscriber deleted");
    if settings.json {
        print_json(&found);
    } else {
        for w in &what {
            println!("removed {w}");
        }
    }
    Ok(())
}
