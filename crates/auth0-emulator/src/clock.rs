//! The emulator's time, injected so that a test can move it instead of sleeping. Token
//! expiry, job pending time, export link expiry, the rate bucket, `x-ratelimit-reset`
//! and the users' timestamps all read the [`Clock`] of the emulator's shared state.
//! (Only `latency_ms` is real time: it delays answers, as a network would.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the emulator reads the time: the machine's clocks ([`Clock::system`], the
/// default) or a manual clock that moves only when told ([`Clock::manual`]). Clones
/// share one clock, so a test keeps a clone and moves the emulator's time with it.
#[derive(Debug, Clone)]
pub struct Clock(Source);

#[derive(Debug, Clone)]
enum Source {
    /// `Instant` for elapsed time (immune to wall-clock steps), `SystemTime` for
    /// timestamps and `x-ratelimit-reset`.
    System { origin: Instant },
    /// One wall time; elapsed time is read from it too.
    Manual(Arc<Mutex<SystemTime>>),
}

impl Clock {
    /// The machine's clocks.
    pub fn system() -> Clock {
        Clock(Source::System { origin: Instant::now() })
    }

    /// A clock standing at `start` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(start: SystemTime) -> Clock {
        Clock(Source::Manual(Arc::new(Mutex::new(start))))
    }

    pub fn is_manual(&self) -> bool {
        matches!(self.0, Source::Manual(_))
    }

    /// Moves a manual clock forward by `by`.
    ///
    /// # Panics
    /// On the system clock, which nobody can move.
    pub fn advance(&self, by: Duration) {
        let mut t = self.manual_time("advance");
        *t += by;
    }

    /// Puts a manual clock at `to`, forwards or backwards (elapsed time follows: a
    /// token may come back to life).
    ///
    /// # Panics
    /// On the system clock, which nobody can set.
    pub fn set(&self, to: SystemTime) {
        *self.manual_time("set") = to;
    }

    /// The wall time now.
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            Source::System { .. } => SystemTime::now(),
            Source::Manual(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// A point for deadlines and elapsed time: `Instant`-based on the system clock, the
    /// wall time since the epoch on a manual one.
    pub(crate) fn tick(&self) -> Tick {
        match &self.0 {
            Source::System { origin } => Tick(origin.elapsed()),
            Source::Manual(_) => Tick(self.since_epoch()),
        }
    }

    /// Whole seconds since the UNIX epoch.
    pub(crate) fn unix_secs(&self) -> u64 {
        self.since_epoch().as_secs()
    }

    /// Seconds since the UNIX epoch, with their fraction.
    pub(crate) fn unix_secs_f64(&self) -> f64 {
        self.since_epoch().as_secs_f64()
    }

    /// `2023-01-25T19:00:26.187Z`, Auth0's timestamps.
    pub(crate) fn now_iso(&self) -> String {
        chrono::DateTime::<chrono::Utc>::from(self.now()).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    fn since_epoch(&self) -> Duration {
        self.now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    fn manual_time(&self, what: &str) -> std::sync::MutexGuard<'_, SystemTime> {
        match &self.0 {
            Source::Manual(t) => t.lock().unwrap_or_else(|e| e.into_inner()),
            Source::System { .. } => panic!("cannot {what} the system clock: use Clock::manual"),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

/// Two system clocks are the same clock; manual clocks are equal when they are clones.
impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (&self.0, &other.0) {
            (Source::System { .. }, Source::System { .. }) => true,
            (Source::Manual(a), Source::Manual(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A point on one clock's time line (ticks of different clocks do not compare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(Duration);

impl Tick {
    /// Time from `earlier` to `self`; zero when `earlier` is later.
    pub(crate) fn since(self, earlier: Tick) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for Tick {
    type Output = Tick;

    fn add(self, d: Duration) -> Tick {
        Tick(self.0.saturating_add(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Clock::manual(start);
        let other = clock.clone();
        let t0 = clock.tick();
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now_iso(), "2023-11-14T22:13:20.000Z");
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), start + Duration::from_millis(1500));
        assert_eq!(clock.tick().since(t0), Duration::from_millis(1500));
        assert_eq!(clock.unix_secs_f64(), 1_700_000_001.5);
        clock.set(start);
        assert_eq!(other.tick(), t0);
        assert_eq!(t0.since(t0 + Duration::from_secs(1)), Duration::ZERO, "saturates");
        assert!(clock.is_manual() && clock == other && clock != Clock::manual(start));
    }

    #[test]
    fn the_system_clock_follows_the_machine() {
        let clock = Clock::system();
        assert!(!clock.is_manual());
        assert_eq!(clock, Clock::default());
        let before = SystemTime::now();
        assert!(clock.now() >= before);
        let t0 = clock.tick();
        assert!(clock.tick() >= t0);
    }

    #[test]
    #[should_panic(expected = "cannot advance the system clock")]
    fn the_system_clock_cannot_be_advanced() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
