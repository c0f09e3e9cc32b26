//! The bench's own corner of PostgreSQL and RabbitMQ: the databases `orghub_bench` (the writer's)
//! and `orghub_bench_cache` (the subscriber's cache), dropped and re-created at start, and the
//! vhost `orghub-bench`, deleted and re-created through the management API. All three are
//! removed again at the end, also after a failure or Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use orghub_broker::mgmt::{Management, percent_encode};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// The writer's database.
pub const WRITER_DB: &str = "orghub_bench";
/// The subscriber's cache database (the "fagsystem's" database).
pub const CACHE_DB: &str = "orghub_bench_cache";
/// The RabbitMQ vhost everything runs in.
pub const VHOST: &str = "orghub-bench";
/// The writer's bootstrap admin token, used for every call.
pub const ADMIN_TOKEN: &str = "orghub-bench-admin-token-0123456789";

/// Where the services are, from the command line.
#[derive(Debug, Clone)]
pub struct Services {
    /// A PostgreSQL URL of a database the bench can create and drop databases from.
    pub pg_admin_url: String,
    /// AMQP URL without the vhost.
    pub amqp_url: String,
    pub mgmt_url: String,
}

/// PostgreSQL or RabbitMQ cannot be used: the bench says why and exits 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadEnvironment(pub String);

/// The prepared environment.
#[derive(Debug)]
pub struct Env {
    pub services: Services,
    pub writer_db_url: String,
    pub cache_db_url: String,
    /// `amqp://…/orghub-bench`.
    pub amqp_url: String,
    pub mgmt: Management,
    /// Config files and logs of the child processes.
    pub dir: PathBuf,
}

impl Env {
    /// Checks that PostgreSQL, the AMQP port and the management API answer, then creates fresh
    /// databases and a fresh vhost.
    pub async fn prepare(services: &Services) -> anyhow::Result<Env> {
        let mut admin = connect_admin(&services.pg_admin_url).await?;
        let mgmt = Management::parse(&services.mgmt_url).map_err(|e| {
            BadEnvironment(format!(
                "the management URL {} is not usable: {e}",
                services.mgmt_url
            ))
        })?;
        if !mgmt.overview_ok().await {
            return Err(BadEnvironment(format!(
                "the RabbitMQ management API at {} does not answer. Start RabbitMQ with the \
                 management plugin (deploy/dev/ensure-services) or pass --mgmt-url \
                 (RABBITMQ_MGMT_URL)",
                mgmt.base_url()
            ))
            .into());
        }
        let default_vhost = format!("{}/%2f", services.amqp_url.trim_end_matches('/'));
        match orghub_broker::connect(&default_vhost, "orghub-bench check").await {
            Ok(conn) => {
                orghub_broker::close_connection(&conn, "checked").await;
            }
            Err(e) => {
                return Err(BadEnvironment(format!(
                    "RabbitMQ does not accept AMQP connections ({e}). Start it \
                     (deploy/dev/ensure-services) or pass --amqp-url (ORGHUB_BENCH_AMQP_URL)"
                ))
                .into());
            }
        }

        for db in [WRITER_DB, CACHE_DB] {
            drop_database(&mut admin, db).await?;
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot create the database {db}"))?;
        }
        let _ = admin.close().await;

        mgmt.delete_vhost(VHOST)
            .await
            .with_context(|| format!("cannot delete an old vhost {VHOST}"))?;
        mgmt.create_vhost(VHOST)
            .await
            .with_context(|| format!("cannot create the vhost {VHOST}"))?;
        mgmt.grant_permissions(VHOST, mgmt.user(), ".*", ".*", ".*")
            .await
            .with_context(|| format!("cannot grant permissions on {VHOST}"))?;

        let dir = std::env::temp_dir().join(format!("orghub-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Env {
            services: services.clone(),
            writer_db_url: orghub_broker::with_path(&services.pg_admin_url, WRITER_DB),
            cache_db_url: orghub_broker::with_path(&services.pg_admin_url, CACHE_DB),
            amqp_url: format!(
                "{}/{}",
                services.amqp_url.trim_end_matches('/'),
                percent_encode(VHOST)
            ),
            mgmt,
            dir,
        })
    }

    /// Drops the databases and the vhost; removes the temporary directory unless `keep_logs`.
    /// Best effort: problems are printed, not returned.
    pub async fn cleanup(&self, keep_logs: bool) {
        if let Err(e) = self.mgmt.delete_vhost(VHOST).await {
            eprintln!("warning: cannot delete the vhost {VHOST}: {e}");
        }
        match connect_admin(&self.services.pg_admin_url).await {
            Ok(mut admin) => {
                for db in [WRITER_DB, CACHE_DB] {
                    if let Err(e) = drop_database(&mut admin, db).await {
                        eprintln!("warning: {e:#}");
                    }
                }
                let _ = admin.close().await;
            }
            Err(e) => eprintln!("warning: cannot drop the bench databases: {e:#}"),
        }
        if keep_logs {
            eprintln!("logs of the child processes are in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn connect_admin(url: &str) -> anyhow::Result<PgConnection> {
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(BadEnvironment(format!(
            "PostgreSQL is not reachable at {} ({e}). Start it (deploy/dev/ensure-services) or \
             pass --pg-url (ORGHUB_BENCH_PG_URL)",
            orghub_runtime::redact_url(url)
        ))
        .into()),
        Err(_) => Err(BadEnvironment(format!(
            "PostgreSQL at {} did not answer within 10 s",
            orghub_runtime::redact_url(url)
        ))
        .into()),
    }
}

async fn drop_database(admin: &mut PgConnection, db: &str) -> anyhow::Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
    )))
    .execute(admin)
    .await
    .with_context(|| format!("cannot drop the database {db}"))?;
    Ok(())
}

/// `url` with `application_name=<name>` added to its query string, so `pg_stat_activity` tells
/// whose session a backend is.
pub fn with_application(url: &str, name: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={name}")
}
