//! Record timestamps without a system call per record.
//!
//! A producer stamps every record with the wall-clock time in milliseconds. Reading the system
//! clock for each costs more than the rest of appending a small record; instead the clock is
//! read once a second and advanced in between by the CPU's time-stamp counter (`quanta`, which
//! falls back to the OS's monotonic clock where the counter is unreliable).

use std::time::Duration;

use crate::types::now_ms;

/// How long an extrapolation runs before the system clock is read again: clock adjustments
/// (NTP steps) show in timestamps within this.
const RESYNC: Duration = Duration::from_secs(1);

/// A millisecond wall clock, cheap to read.
#[derive(Debug)]
pub(crate) struct WallClock {
    anchor: quanta::Instant,
    anchor_ms: i64,
}

impl WallClock {
    pub(crate) fn new() -> Self {
        Self {
            anchor: quanta::Instant::now(),
            anchor_ms: now_ms(),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&mut self) -> i64 {
        let now = quanta::Instant::now();
        let since = now.saturating_duration_since(self.anchor);
        if since >= RESYNC {
            *self = Self::new();
            return self.anchor_ms;
        }
        // Below RESYNC, so well within i64.
        self.anchor_ms + since.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock() {
        let mut clock = WallClock::new();
        for _ in 0..3 {
            let before = now_ms();
            let read = clock.now_ms();
            let after = now_ms();
            // The extrapolation may round a millisecond differently from the system clock.
            assert!(
                before - 1 <= read && read <= after + 1,
                "{before} {read} {after}"
            );
            std::thread::sleep(Duration::from_millis(600));
        }
    }
}
