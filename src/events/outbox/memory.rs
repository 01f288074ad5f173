//! The outbox in this process's memory. A restart loses everything queued, retrying or
//! foreseen: fine for development and a single instance that may lose events, not for a
//! deployment that promises them.
//!
//! Bounded: past `cap` events (queued + retrying), or `cap` expiries foreseen, the oldest
//! is dropped, logged by id and type, and counted in `dropped`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    sync::{atomic::Ordering, Arc, Mutex, MutexGuard},
};

use super::{Claimed, Queued};
use crate::events::delivery::DeliveryStats;

/// The default bound of each of the two collections.
pub const DEFAULT_CAP: usize = 100_000;

pub struct MemoryOutbox {
    state: Mutex<State>,
    cap: usize,
    stats: Arc<DeliveryStats>,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Queued>,
    /// Keyed by (due ms, arrival) so the earliest comes first and none collide.
    retrying: BTreeMap<(u64, u64), Queued>,
    /// Taken by the worker and not yet acked or rescheduled.
    in_flight: u64,
    /// Verification id → (deadline, the `expired` event).
    expiries: HashMap<String, (u64, Queued)>,
    /// (deadline, verification id): the next due first.
    expiry_order: BTreeSet<(u64, String)>,
    arrivals: u64,
}

impl MemoryOutbox {
    pub(crate) fn new(cap: usize, stats: Arc<DeliveryStats>) -> Self {
        MemoryOutbox {
            state: Mutex::new(State::default()),
            cap: cap.max(1),
            stats,
        }
    }

    /// A poisoned lock only means a panic elsewhere mid-update of plain collections:
    /// carry on with them rather than lose every event.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn enqueue(&self, entry: Queued) {
        let mut state = self.state();
        self.make_room(&mut state);
        state.ready.push_back(entry);
    }

    pub(crate) fn expect(&self, key: &str, deadline_ms: u64, entry: Queued) {
        let mut state = self.state();
        if let Some((old, _)) = state.expiries.remove(key) {
            state.expiry_order.remove(&(old, key.to_owned()));
        }
        if state.expiries.len() >= self.cap {
            // The earliest deadline is the oldest expectation (verifications share one
            // lifetime), and the next to fire.
            if let Some((_, oldest)) = state.expiry_order.pop_first() {
                if let Some((_, dropped)) = state.expiries.remove(&oldest) {
                    self.dropped(&dropped, "the memory outbox's expiries are full");
                }
            }
        }
        state.expiry_order.insert((deadline_ms, key.to_owned()));
        state.expiries.insert(key.to_owned(), (deadline_ms, entry));
    }

    pub(crate) fn settle(&self, key: &str) {
        let mut state = self.state();
        if let Some((deadline, _)) = state.expiries.remove(key) {
            state.expiry_order.remove(&(deadline, key.to_owned()));
        }
    }

    pub(crate) fn promote_due(&self, now_ms: u64) -> usize {
        let mut state = self.state();
        let mut moved = Vec::new();
        let mut fired = 0;
        while let Some(entry) = state.retrying.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            moved.push(entry.remove());
        }
        while let Some((deadline, key)) = state.expiry_order.first().cloned() {
            if deadline > now_ms {
                break;
            }
            state.expiry_order.pop_first();
            if let Some((_, entry)) = state.expiries.remove(&key) {
                moved.push(entry);
                fired += 1;
            }
        }
        for entry in moved {
            self.make_room(&mut state);
            state.ready.push_back(entry);
        }
        fired
    }

    pub(crate) fn take(&self, max: usize) -> Vec<Claimed> {
        let mut state = self.state();
        let n = max.min(state.ready.len());
        state.in_flight += n as u64;
        state
            .ready
            .drain(..n)
            .map(|entry| Claimed { entry, handle: None })
            .collect()
    }

    pub(crate) fn ack(&self) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
    }

    pub(crate) fn retry_later(&self, next: Queued, due_ms: u64) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        self.make_room(&mut state);
        state.arrivals += 1;
        let arrival = state.arrivals;
        state.retrying.insert((due_ms, arrival), next);
    }

    /// Back to the front: it was next.
    pub(crate) fn release(&self, entry: Queued) {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.ready.push_front(entry);
    }

    pub(crate) fn next_due(&self) -> Option<u64> {
        let state = self.state();
        let retry = state.retrying.keys().next().map(|(due, _)| *due);
        let expiry = state.expiry_order.first().map(|(deadline, _)| *deadline);
        retry.into_iter().chain(expiry).min()
    }

    pub(crate) fn depth(&self) -> u64 {
        let state = self.state();
        state.ready.len() as u64 + state.retrying.len() as u64 + state.in_flight
    }

    /// Drops the oldest event while queued + retrying is at the cap: the oldest queued
    /// first (it has waited longest), else the retry due soonest.
    fn make_room(&self, state: &mut State) {
        while state.ready.len() + state.retrying.len() >= self.cap {
            let dropped = match state.ready.pop_front() {
                Some(entry) => entry,
                None => match state.retrying.pop_first() {
                    Some((_, entry)) => entry,
                    None => return,
                },
            };
            self.dropped(&dropped, "the memory outbox is full");
        }
    }

    fn dropped(&self, entry: &Queued, why: &str) {
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::error!(event_id = %entry.id, event_type = %entry.event_type, "event dropped: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Queued {
        Queued {
            id: id.into(),
            event_type: "t".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            failures: 0,
            first_ms: 0,
        }
    }

    fn outbox(cap: usize) -> (MemoryOutbox, Arc<DeliveryStats>) {
        let stats = Arc::new(DeliveryStats::default());
        (MemoryOutbox::new(cap, stats.clone()), stats)
    }

    fn ids(claimed: &[Claimed]) -> Vec<&str> {
        claimed.iter().map(|c| c.entry.id.as_str()).collect()
    }

    #[test]
    fn entries_come_out_in_order_and_count_until_acked() {
        let (o, _) = outbox(10);
        for id in ["a", "b", "c"] {
            o.enqueue(entry(id));
        }
        let first = o.take(2);
        assert_eq!(ids(&first), ["a", "b"]);
        assert_eq!(o.depth(), 3, "taken but unacked still counts");
        o.ack();
        assert_eq!(o.depth(), 2);
        o.release(first.into_iter().nth(1).unwrap().entry);
        assert_eq!(ids(&o.take(5)), ["b", "c"], "a released entry is next");
        assert!(o.take(5).is_empty());
    }

    #[test]
    fn a_retry_waits_for_its_time_with_its_count() {
        let (o, _) = outbox(10);
        o.enqueue(entry("a"));
        let taken = o.take(1).pop().unwrap();
        let mut next = taken.entry.clone();
        next.failures = 1;
        o.retry_later(next.clone(), 500);
        assert_eq!(o.depth(), 1);
        assert_eq!(o.next_due(), Some(500));
        o.promote_due(499);
        assert!(o.take(1).is_empty());
        assert_eq!(o.promote_due(500), 0, "a retry is no new event");
        let again = o.take(1).pop().unwrap();
        assert_eq!(again.entry, next, "same body, failures carried");
        assert_eq!(o.next_due(), None);
    }

    #[test]
    fn an_expiry_fires_once_at_its_deadline_unless_settled() {
        let (o, _) = outbox(10);
        o.expect("v1", 100, entry("x1"));
        o.expect("v2", 50, entry("x2"));
        o.expect("v3", 70, entry("x3"));
        o.expect("v3", 200, entry("x3b"));
        o.settle("v2");
        o.settle("unknown");
        assert_eq!(o.depth(), 0, "foreseen expiries are not waiting events");
        assert_eq!(o.next_due(), Some(100));
        assert_eq!(o.promote_due(99), 0);
        assert_eq!(o.promote_due(150), 1);
        assert_eq!(ids(&o.take(10)), ["x1"]);
        assert_eq!(o.promote_due(150), 0, "once");
        assert_eq!(o.promote_due(1_000), 1);
        assert_eq!(ids(&o.take(10)), ["x3b"], "the later expectation replaced the earlier");
        o.settle("v1");
        assert_eq!(o.promote_due(u64::MAX), 0);
    }

    #[test]
    fn past_the_cap_the_oldest_is_dropped_and_counted() {
        let (o, stats) = outbox(3);
        for id in ["a", "b", "c", "d"] {
            o.enqueue(entry(id));
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(ids(&o.take(10)), ["b", "c", "d"]);

        for (n, key) in ["v1", "v2", "v3", "v4"].into_iter().enumerate() {
            o.expect(key, 10 + n as u64, entry(key));
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(o.promote_due(100), 3);
        assert_eq!(ids(&o.take(10)), ["v2", "v3", "v4"]);
    }
}
