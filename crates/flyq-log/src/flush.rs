//! [`Flusher`]: one background thread that applies `flush.ms` to every registered log.
//!
//! Per-log timers would cost a thread or a timer each; one thread ticking over weak references
//! stays cheap with thousands of partitions. Logs that are dropped fall out of the list.

use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::log::Log;

#[derive(Default)]
struct Shared {
    logs: Mutex<Vec<Weak<Log>>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Background syncing for logs with a `flush.ms` interval. Stops (and joins) when dropped.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("logs", &self.shared.logs.lock().len())
            .finish()
    }
}

impl Flusher {
    /// Starts the thread, checking every registered log each `tick`.
    pub fn start(tick: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("flyq-flusher".into())
            .spawn(move || run(&worker, tick))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Adds a log to the flusher.
    pub fn register(&self, log: &Arc<Log>) {
        self.shared.logs.lock().push(Arc::downgrade(log));
    }
}

fn run(shared: &Shared, tick: Duration) {
    loop {
        {
            let mut stop = shared.stop.lock();
            if *stop {
                return;
            }
            shared.wake.wait_for(&mut stop, tick);
            if *stop {
                return;
            }
        }
        let logs: Vec<Arc<Log>> = {
            let mut list = shared.logs.lock();
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for log in logs {
            if let Err(e) = log.flush_if_due() {
                // The log poisons itself and reports it; once is enough here.
                tracing::debug!(target: "flyq::log", dir = %log.dir().display(), error = %e, "background flush failed");
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
