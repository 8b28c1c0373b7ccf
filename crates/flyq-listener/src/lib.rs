//! FlyQ's TCP listener, shared by every front end (the Kafka listener, the HTTP API, later
//! gRPC). It owns what is about connections rather than protocols, so each front end gets the
//! same rules and only one copy of them:
//!
//! - **Accepting, with a cap** on open connections ([`Settings::max_connections`]). What
//!   happens to one more is the front end's choice ([`WhenFull`]): the Kafka listener closes
//!   it at once, the HTTP listener leaves it in the kernel's backlog until a slot frees.
//! - **Time limits on reads** ([`TimedStream`]): optionally, a connection whose peer sends
//!   nothing for the idle time, or that reaches its maximum age, has its reads fail. A limit
//!   that depends on where a request starts (Kafka's request read timeout) stays with the
//!   front end's framing, the only place that knows.
//! - **The handshake seam** ([`Handshake`]): every connection passes through its listener's
//!   handshake before its front end sees it. Plaintext today; TLS will be another
//!   implementation, and SASL a step of the Kafka front end (see [`Handshake`]).
//! - **Draining on shutdown** ([`Listener::serve`]): stop accepting (new connections are
//!   refused by the kernel), tell every connection ([`Closing`]) so it stops after what it is
//!   doing, give them [`Settings::shutdown_grace`], then close what is left.
//! - **Counting** open and refused connections in the front end's metrics
//!   ([`ConnectionCounters`]), and rate-limiting log lines about misbehaving connections
//!   ([`ProblemLog`], shared with the front end for its own lines).
//!
//! What a connection says is the front end's business: it is handed the stream, the peer's
//! address and the [`Closing`] signal, on a task of the connection's own.

mod accept;
mod counters;
mod drain;
mod handshake;
mod problem_log;
mod timed;

use std::time::Duration;

pub use accept::Listener;
pub use counters::ConnectionCounters;
pub use drain::Closing;
pub use handshake::{Handshake, Plaintext};
pub use problem_log::ProblemLog;
pub use timed::TimedStream;

/// What a listener does with a connection that arrives when every slot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Close it at once, count it in [`ConnectionCounters::refused`] and say so in a log line
    /// (under the [`ProblemLog`] rate limit). Kafka clients then retry or try another broker.
    Refuse,
    /// Stop accepting until a connection closes; new ones wait in the kernel's listen backlog.
    Wait,
}

/// How one listener treats its connections.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names the front end in log lines ("kafka", "http").
    pub name: &'static str,
    /// Most connections open at once (at least one is always allowed).
    pub max_connections: usize,
    /// What happens to a connection beyond `max_connections`.
    pub when_full: WhenFull,
    /// A connection whose peer sends nothing for this long has its reads fail; `None`: idle
    /// connections may wait for ever.
    pub idle_timeout: Option<Duration>,
    /// A connection this old has its reads fail, busy or not; `None`: no age limit.
    pub max_age: Option<Duration>,
    /// On shutdown, how long connections get to finish what they are doing before they are
    /// closed.
    pub shutdown_grace: Duration,
}
