//! The `Clock` port: wall time for humans, monotonic time for ordering.
//!
//! Injected everywhere so journals and snapshots are reproducible in tests.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::Mutex;
use std::time::Instant;

/// Wall-clock UTC time plus milliseconds since the session started on a monotonic clock.
pub trait Clock: Send + Sync {
    /// Current wall-clock time, UTC.
    fn now(&self) -> DateTime<Utc>;
    /// Milliseconds elapsed on a monotonic clock since this clock was made.
    fn mono_ms(&self) -> u64;
}

/// The machine's clocks.
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        Self { start: Instant::now() }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn mono_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock for tests: starts at a fixed instant and moves `step_ms` on every reading of `now`.
pub struct FixedClock {
    state: Mutex<(DateTime<Utc>, u64)>,
    step_ms: u64,
}

impl FixedClock {
    /// 2026-11-25T03:00:00Z, advancing one second per reading.
    pub fn new() -> Self {
        Self::starting_at(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).single().unwrap_or_default(), 1000)
    }
    pub fn starting_at(t: DateTime<Utc>, step_ms: u64) -> Self {
        Self { state: Mutex::new((t, 0)), step_ms }
    }
}

impl Default for FixedClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = s.0;
        s.0 += chrono::Duration::milliseconds(i64::try_from(self.step_ms).unwrap_or(0));
        s.1 += self.step_ms;
        t
    }
    fn mono_ms(&self) -> u64 {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1
    }
}

/// RFC 3339 UTC with milliseconds, the journal's timestamp format.
pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
