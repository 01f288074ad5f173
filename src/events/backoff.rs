//! When a failed delivery is tried again, and when it is given up.

use std::time::Duration;

use rand::Rng;

/// The production schedule: the first retry within seconds (a receiver restarting), then
/// ever longer waits, capped at the last.
const PRODUCTION_DELAYS: [Duration; 6] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 60 * 60),
];

/// How long an event is tried, from when it was first due.
const PRODUCTION_GIVE_UP: Duration = Duration::from_secs(24 * 60 * 60);

/// ± this share of each delay, at random: many events failing together (a receiver
/// down) come back spread out instead of in one burst.
const PRODUCTION_JITTER: f64 = 0.2;

/// A retry schedule: the wait after the n-th failure is `delays[n - 1]` (the last one
/// repeated), jittered; an event whose next try would fall later than `give_up_after`
/// past its first is dropped instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    delays: Vec<Duration>,
    give_up_after: Duration,
    jitter: f64,
}

impl Default for Backoff {
    /// 2 s, 10 s, 1 min, 5 min, 30 min, then every 2 h, ±20 %, for 24 h.
    fn default() -> Self {
        Backoff {
            delays: PRODUCTION_DELAYS.to_vec(),
            give_up_after: PRODUCTION_GIVE_UP,
            jitter: PRODUCTION_JITTER,
        }
    }
}

impl Backoff {
    /// An exact schedule, without jitter (tests). No delays at all: the first failure
    /// gives up.
    pub fn new(delays: Vec<Duration>, give_up_after: Duration) -> Self {
        Backoff {
            delays,
            give_up_after,
            jitter: 0.0,
        }
    }

    /// The wait after `failures` failed attempts (1 = the first failure), before jitter;
    /// `None` when the schedule is empty.
    pub fn delay(&self, failures: u32) -> Option<Duration> {
        let at = (failures.max(1) as usize - 1).min(self.delays.len().checked_sub(1)?);
        Some(self.delays[at])
    }

    /// When to try again after `failures` failed attempts, now `now_ms`, for an event
    /// first due at `first_ms`; `None`: give up.
    pub fn next_attempt_ms(&self, failures: u32, first_ms: u64, now_ms: u64) -> Option<u64> {
        let delay = self.delay(failures)?;
        let factor = if self.jitter > 0.0 {
            rand::thread_rng().gen_range(1.0 - self.jitter..=1.0 + self.jitter)
        } else {
            1.0
        };
        let due = now_ms.saturating_add((delay.as_millis() as f64 * factor) as u64);
        let last = first_ms.saturating_add(self.give_up_after.as_millis() as u64);
        (due <= last).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    #[test]
    fn production_retries_within_seconds_then_backs_off_to_two_hours() {
        let b = Backoff::default();
        let delays: Vec<_> = (1..=8).map(|n| b.delay(n).unwrap().as_secs()).collect();
        assert_eq!(delays, [2, 10, 60, 300, 1800, 7200, 7200, 7200]);
        for _ in 0..200 {
            let next = b.next_attempt_ms(1, 0, 0).unwrap();
            assert!((1_600..=2_400).contains(&next), "jitter stays within ±20 %: {next}");
        }
    }

    #[test]
    fn production_gives_up_after_a_day() {
        let b = Backoff::default();
        // Walk the schedule at its longest (every delay +20 %): it still ends within 24 h.
        let (mut now, mut failures) = (0u64, 0u32);
        while let Some(next) = b.next_attempt_ms(failures + 1, 0, now) {
            assert!(next > now && next <= 24 * 3600 * S);
            now = next;
            failures += 1;
            assert!(failures < 100, "the schedule must end");
        }
        assert!(failures >= 10, "a day of tries, not a few: {failures}");
        assert!(now > 20 * 3600 * S, "tries until near the day's end: {now}");
        assert_eq!(b.next_attempt_ms(3, 0, 24 * 3600 * S), None);
    }

    #[test]
    fn a_test_schedule_is_exact() {
        let b = Backoff::new(
            vec![Duration::from_millis(10), Duration::from_millis(30)],
            Duration::from_millis(100),
        );
        assert_eq!(b.next_attempt_ms(1, 0, 0), Some(10));
        assert_eq!(b.next_attempt_ms(2, 0, 10), Some(40));
        assert_eq!(b.next_attempt_ms(5, 0, 70), Some(100));
        assert_eq!(b.next_attempt_ms(6, 0, 71), None, "past the window: dropped");
        assert_eq!(
            Backoff::new(Vec::new(), Duration::from_secs(1)).next_attempt_ms(1, 0, 0),
            None
        );
    }
}
