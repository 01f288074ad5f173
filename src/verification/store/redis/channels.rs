//! Messages between instances: PUBLISH on the store's connection, and one subscriber
//! connection per listened channel that hands every message to this process.
//!
//! A message only says "read this record again"; the record itself stays in the store.
//! Pub/Sub delivers at most once and only to those connected: whoever waits on a message
//! reads the store again now and then too, so a message lost in a reconnect costs
//! latency, never a result.

use std::{sync::Weak, time::Duration};

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::{unavailable, RedisStore};
use crate::verification::store::StoreError;

/// How long a lost subscriber connection waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

impl RedisStore {
    fn channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.prefix)
    }

    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PUBLISH")
            .arg(self.channel(channel))
            .arg(message)
            .query_async::<()>(&mut connection)
            .await
            .map_err(unavailable)
    }

    /// Subscribes to `channel` on the Redis (or on the cluster's seeds in turn) and sends
    /// every message to `to`, until `to` is gone.
    pub fn listen(&self, channel: &str, to: Weak<broadcast::Sender<String>>) {
        let (channel, addresses) = (self.channel(channel), self.listen_at.clone());
        tokio::spawn(async move {
            for url in addresses.iter().cycle() {
                if to.strong_count() == 0 {
                    return;
                }
                match subscribe(url, &channel).await {
                    Ok(pubsub) => {
                        tracing::debug!("listening for other instances' messages");
                        let mut messages = pubsub.into_on_message();
                        while let Some(message) = messages.next().await {
                            let Some(to) = to.upgrade() else { return };
                            if let Ok(text) = message.get_payload::<String>() {
                                // No receiver now is no error: nobody is waiting.
                                let _ = to.send(text);
                            }
                        }
                        tracing::warn!("the Redis subscriber connection closed; connecting again");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis; trying again"),
                }
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        });
    }
}

async fn subscribe(url: &str, channel: &str) -> Result<redis::aio::PubSub, StoreError> {
    let client = redis::Client::open(url).map_err(unavailable)?;
    let mut pubsub = tokio::time::timeout(super::CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| StoreError::Unavailable("no answer within the connection timeout".into()))?
        .map_err(unavailable)?;
    pubsub.subscribe(channel).await.map_err(unavailable)?;
    Ok(pubsub)
}
