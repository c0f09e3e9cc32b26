//! [`TestHub`]: what most scenarios start with, in one call, and take down in one call.

use sqlx::PgPool;

use crate::ops::Ctl;
use crate::writer::TestWriter;
use crate::{TestDatabase, TestVhost};

/// How a [`TestHub`] starts.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Whether the writer runs its relay (publishing to the vhost). Default: yes.
    pub relay: bool,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions { relay: true }
    }
}

impl HubOptions {
    /// A writer without its relay: events stay in the log, unpublished.
    pub fn without_relay() -> Self {
        HubOptions { relay: false }
    }
}

/// A fresh database, a fresh vhost and an in-process writer (API and relay) on them.
#[derive(Debug)]
pub struct TestHub {
    pub db: TestDatabase,
    pub vhost: TestVhost,
    pub writer: TestWriter,
}

impl TestHub {
    /// Creates the database and the vhost and starts the writer on them.
    pub async fn start(opts: HubOptions) -> TestHub {
        let db = TestDatabase::create().await;
        let vhost = TestVhost::create().await;
        let writer = TestWriter::start_with(&db.url, &vhost.amqp_url, opts.relay).await;
        TestHub { db, vhost, writer }
    }

    /// The real `orghubctl` pointed at this hub's database, vhost and writer. (Built on demand:
    /// it needs the binary, which `cargo test -p orghub-tests` does not build.)
    pub fn ctl(&self) -> Ctl {
        Ctl::new(&self.db.url, &self.vhost, &self.writer.base)
    }

    /// The test's own pool on the writer's database.
    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// How many events the writer has recorded, published or not.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM event")
            .fetch_one(&self.db.pool)
            .await
            .expect("count the events")
    }

    /// Stops the writer, then drops the database and deletes the vhost.
    pub async fn stop(self) {
        self.writer.stop().await;
        self.db.drop_now().await;
        self.vhost.delete_now().await;
    }
}
