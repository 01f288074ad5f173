//! Wake-ups inside this process, fed by every instance: "the record named X changed,
//! read it again". Whoever holds a live stream (the desktop's handoff) subscribes here;
//! with Redis, messages other instances publish arrive here too (see
//! [`super::store::Store::listen`]).

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use super::{handoff::CHANNEL, store::Store};

/// Wake-ups a slow stream may fall behind by before it just reads its record again.
const BACKLOG: usize = 1024;

pub struct Notices {
    /// Held here alone: the Redis listener stops once it is dropped.
    sender: Arc<broadcast::Sender<String>>,
    /// `true` once the server drains: every live stream ends.
    closing: watch::Sender<bool>,
}

impl Notices {
    /// Listens on `store`'s channel for the other instances' messages.
    pub fn new(store: &Store) -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        let sender = Arc::new(sender);
        store.listen(CHANNEL, Arc::downgrade(&sender));
        Self {
            sender,
            closing: watch::channel(false).0,
        }
    }

    /// Wakes this process's streams waiting on `id`.
    pub fn notify(&self, id: &str) {
        // No receiver now is no error: nobody is waiting.
        let _ = self.sender.send(id.to_owned());
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }

    /// Resolves once the server drains (at once if it already does).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every live stream: a draining server must not wait for them.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}
