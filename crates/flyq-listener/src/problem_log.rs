//! Rate limiting for log lines about misbehaving connections (bad frames, malformed requests,
//! refused connections): a flood of them must not fill the disk or drown other lines.
//!
//! Up to [`LINES_PER_SECOND`] lines a second are written; the rest are counted, and the next
//! line written says how many were suppressed since the last one.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Most connection-problem lines written per second.
const LINES_PER_SECOND: u32 = 20;

/// The limiter, shared by a listener and every connection of its front end.
#[derive(Debug)]
pub struct ProblemLog {
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    written: u32,
    suppressed: u64,
}

impl ProblemLog {
    /// A limiter with nothing written yet.
    pub fn new() -> Self {
        Self {
            window: Mutex::new(Window {
                started: Instant::now(),
                written: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether a line may be written now; if so, how many were suppressed before it.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut window = self.window.lock();
        if now.duration_since(window.started) >= Duration::from_secs(1) {
            window.started = now;
            window.written = 0;
        }
        if window.written < LINES_PER_SECOND {
            window.written += 1;
            Some(std::mem::take(&mut window.suppressed))
        } else {
            window.suppressed += 1;
            None
        }
    }
}

impl Default for ProblemLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_limit_and_the_next_line_counts_what_was_dropped() {
        let log = ProblemLog::new();
        let start = Instant::now();
        let admitted = (0..1000).filter(|_| log.admit_at(start).is_some()).count();
        assert_eq!(admitted, LINES_PER_SECOND as usize);
        let later = start + Duration::from_secs(1);
        assert_eq!(
            log.admit_at(later),
            Some(1000 - u64::from(LINES_PER_SECOND))
        );
        assert_eq!(log.admit_at(later), Some(0));
    }
}
