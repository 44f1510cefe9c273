//! The virtual clock a test moves by hand (`runner::testing`): the time guests see on their
//! wall and monotonic clocks, and the timers their sleeps and timeouts wait on, advanced only
//! by `advance`. The runner's own limits (request deadline, CPU budget, idle instances) never
//! read it: they stay on real time, so a stuck guest still fails its request.
//!
//! Timers: every pending guest sleep is an entry `(deadline, id) -> waker`. A timer is due
//! once the clock's `elapsed` reaches its deadline; its future removes its own entry when it
//! completes or is dropped, so the map holds exactly the sleeps still waiting, and "due but
//! still listed" means "woken, not yet run".
//!
//! `advance(d)` walks through the due timers in deadline order: it sets the clock to the next
//! deadline, wakes those timers and lets the woken tasks run until they have taken their
//! wake-up (bounded in real time), then goes on, so a guest that sleeps 5 s twice wakes twice
//! within one `advance(10 s)`, each time seeing the right `now`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long `advance` lets woken timers' tasks run before it moves on, at most, per step.
const SETTLE_LIMIT: Duration = Duration::from_secs(1);
/// Monotonic readings start here (nanoseconds), not at zero, which some guests treat as unset.
const MONOTONIC_ORIGIN: u64 = 1_000_000_000;

/// A clock that stands still until `advance` moves it.
pub struct VirtualClock {
    /// Wall-clock time at the start (the real time when the clock was made).
    wall_origin: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    elapsed: Duration,
    timers: BTreeMap<(Duration, u64), Option<Waker>>,
    next_id: u64,
}

impl VirtualClock {
    /// A clock reading the real wall-clock time now.
    pub fn new() -> Arc<Self> {
        let wall_origin = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Arc::new(Self {
            wall_origin,
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How far the clock has been advanced since it was made.
    pub fn elapsed(&self) -> Duration {
        self.state().elapsed
    }

    /// The wall-clock time guests see.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + self.wall_since_epoch()
    }

    /// The wall-clock time guests see, as a duration since the Unix epoch.
    pub fn wall_since_epoch(&self) -> Duration {
        self.wall_origin + self.elapsed()
    }

    /// The monotonic reading guests see, in nanoseconds.
    pub fn monotonic_nanos(&self) -> u64 {
        MONOTONIC_ORIGIN
            .saturating_add(u64::try_from(self.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// The number of timers (guest sleeps, timeouts, delayed mock answers) waiting.
    pub fn pending_timers(&self) -> usize {
        self.timers().len()
    }

    /// A future that completes once the clock has been advanced by `duration` from now.
    pub fn sleep(self: &Arc<Self>, duration: Duration) -> Sleep {
        let deadline = self.elapsed().saturating_add(duration);
        self.sleep_until(deadline)
    }

    /// A future that completes once `elapsed()` reaches `deadline`.
    pub fn sleep_until(self: &Arc<Self>, deadline: Duration) -> Sleep {
        Sleep {
            clock: self.clone(),
            deadline,
            id: None,
        }
    }

    /// The monotonic reading `nanos` as a deadline on this clock.
    pub fn deadline_of_monotonic(&self, nanos: u64) -> Duration {
        Duration::from_nanos(nanos.saturating_sub(MONOTONIC_ORIGIN))
    }

    /// Moves the clock forward by `by`, firing every timer that falls due on the way, in
    /// order, and letting the guests they wake run before going on.
    pub async fn advance(&self, by: Duration) {
        let target = self.elapsed().saturating_add(by);
        loop {
            let (next, woken) = {
                let mut state = self.state();
                let next = state
                    .timers
                    .keys()
                    .map(|(deadline, _)| *deadline)
                    .find(|deadline| *deadline > state.elapsed && *deadline <= target);
                state.elapsed = next.unwrap_or(target).max(state.elapsed);
                let now = state.elapsed;
                let woken: Vec<Waker> = state
                    .timers
                    .range(..=(now, u64::MAX))
                    .filter_map(|(_, waker)| waker.clone())
                    .collect();
                (next, woken)
            };
            woken.into_iter().for_each(Waker::wake);
            self.settle().await;
            if next.is_none() {
                break;
            }
        }
    }

    /// Waits (in real time, bounded) until every due timer has been taken by its task, then
    /// yields a few times so the woken guests can reach their next wait.
    async fn settle(&self) {
        let started = std::time::Instant::now();
        loop {
            let waiting = {
                let state = self.state();
                state
                    .timers
                    .range(..=(state.elapsed, u64::MAX))
                    .next()
                    .is_some()
            };
            if !waiting || started.elapsed() > SETTLE_LIMIT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    /// How long each waiting timer has left, soonest first.
    pub fn timers(&self) -> Vec<Duration> {
        let state = self.state();
        state
            .timers
            .keys()
            .filter(|(deadline, _)| *deadline > state.elapsed)
            .map(|(deadline, _)| *deadline - state.elapsed)
            .collect()
    }

    /// Resolves once at least `count` timers are waiting (checked in real time).
    pub async fn wait_for_timers(&self, count: usize) {
        self.wait_until(&format!("{count} timer(s)"), |timers| timers.len() >= count)
            .await;
    }

    /// Resolves once a timer due exactly `remaining` from now is waiting.
    pub async fn wait_for_timer(&self, remaining: Duration) {
        self.wait_until(&format!("a timer due in {remaining:?}"), |timers| {
            timers.contains(&remaining)
        })
        .await;
    }

    /// Polls `done` over the waiting timers (in real time) until it holds, saying on stderr
    /// every 10 s what it still waits for.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Duration]) -> bool) {
        let started = std::time::Instant::now();
        let mut warned = Duration::ZERO;
        loop {
            let timers = self.timers();
            if done(&timers) {
                return;
            }
            let waited = started.elapsed();
            if waited >= warned + Duration::from_secs(10) {
                warned = waited;
                eprintln!(
                    "runner::testing: still waiting for {what} on the virtual clock after {}s; \
                     waiting now: {timers:?}",
                    waited.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// A pending sleep on a `VirtualClock`.
pub struct Sleep {
    clock: Arc<VirtualClock>,
    deadline: Duration,
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let clock = self.clock.clone();
        let mut state = clock.state();
        if state.elapsed >= self.deadline {
            if let Some(id) = self.id.take() {
                state.timers.remove(&(self.deadline, id));
            }
            return Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = state.next_id;
                state.next_id += 1;
                self.id = Some(id);
                id
            }
        };
        state
            .timers
            .insert((self.deadline, id), Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.clock.state().timers.remove(&(self.deadline, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_end_only_when_advanced_past_their_deadline() {
        let clock = VirtualClock::new();
        let start = clock.now();
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(20)).await }
        });
        clock.wait_for_timer(Duration::from_secs(20)).await;
        clock.advance(Duration::from_secs(19)).await;
        assert!(!sleeper.is_finished());
        assert_eq!(clock.timers(), [Duration::from_secs(1)]);
        clock.advance(Duration::from_secs(1)).await;
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken by the advance")
            .unwrap();
        assert_eq!(clock.pending_timers(), 0);
        assert_eq!(
            clock.now().duration_since(start).unwrap(),
            Duration::from_secs(20)
        );
    }

    #[tokio::test]
    async fn one_advance_fires_chained_sleeps_in_order_with_the_right_time() {
        let clock = VirtualClock::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sleeper = tokio::spawn({
            let (clock, seen) = (clock.clone(), seen.clone());
            async move {
                for _ in 0..3 {
                    clock.sleep(Duration::from_secs(5)).await;
                    seen.lock().unwrap().push(clock.elapsed());
                }
            }
        });
        clock.wait_for_timers(1).await;
        clock.advance(Duration::from_secs(12)).await;
        assert_eq!(
            *seen.lock().unwrap(),
            [Duration::from_secs(5), Duration::from_secs(10)]
        );
        assert_eq!(clock.elapsed(), Duration::from_secs(12));
        clock.advance(Duration::from_secs(3)).await;
        sleeper.await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_dropped_sleep_leaves_no_timer() {
        let clock = VirtualClock::new();
        let sleep = clock.sleep(Duration::from_secs(1));
        let _ = tokio::time::timeout(Duration::from_millis(5), sleep).await;
        assert_eq!(clock.pending_timers(), 0);
    }

    #[test]
    fn monotonic_readings_map_back_to_deadlines() {
        let clock = VirtualClock::new();
        let now = clock.monotonic_nanos();
        assert_eq!(
            clock.deadline_of_monotonic(now + 5),
            Duration::from_nanos(5)
        );
        assert_eq!(clock.deadline_of_monotonic(0), Duration::ZERO);
    }
}
