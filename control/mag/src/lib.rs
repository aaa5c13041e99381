//! The MAG's Proxy Mobile IPv6 signaling (RFC 5213 §6.9) as a sans-IO state machine.
//!
//! Input: frames seen from a MAC on the access link, parsed Proxy Binding
//! Acknowledgements, NUD answers, policy reloads, and the time (a monotonic [`Duration`]
//! since start; a wall-clock base given at construction turns it into PBU timestamps).
//! Output: [`Action`]s: PBUs to send, routes to install and withdraw, Router
//! Advertisements and NUD probes to send, events to log and count. No I/O, no clocks, no
//! threads: tests drive it with a fake clock.
//!
//! [`Duration`]: std::time::Duration

#![forbid(unsafe_code)]

pub mod action;
pub mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod mag;
pub mod policy;
pub mod stats;
mod timers;

#[cfg(test)]
mod tests;

pub use action::{Action, DetachReason, DropReason, FailReason, PbuKind};
pub use config::Config;
pub use mag::{Mag, MemoryUse, MnState, MobileView};
pub use policy::{Policy, PolicyError, Prefix};
pub use stats::Stats;
