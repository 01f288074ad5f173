//! One Redis (a primary, perhaps with replicas) or a Redis Cluster, behind one connection
//! type: the store and the signed events' outbox are each written once for both. Every
//! command has a response timeout; connecting has a bound too, so a Redis that does not
//! answer fails start-up instead of hanging it. Errors never repeat a URL (it may hold a
//! password).

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    RedisFuture,
};

/// How long one command may wait for its answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    /// One Redis at `url` (`redis://` or `rediss://`), through a connection manager that
    /// reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("not a Redis URL: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT + RESPONSE_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| "no answer within the connection timeout".to_owned())?
        .map_err(|e| e.to_string())?;
        Ok(Connection::Single(connection))
    }

    /// A Redis Cluster, found from any of its `seeds` (`redis://host:port` each): the
    /// client learns the slot map and follows it as it changes.
    pub async fn connect_cluster(seeds: &[&str]) -> Result<Self, String> {
        let client = ClusterClientBuilder::new(seeds.to_vec())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(1)
            .build()
            .map_err(|e| format!("not Redis Cluster URLs: {e}"))?;
        let connection = tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, client.get_async_connection())
            .await
            .map_err(|_| "no answer within the connection timeout".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(Connection::Cluster(connection))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Connection::Cluster(_))
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
