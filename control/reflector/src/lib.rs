//! The RFC 6275 correspondent-node role, played by the MAG on behalf of attached nodes
//! (draft-cui-netext-route-optimization-agent-ext-00 §4.1), as a sans-IO state machine.
//!
//! Input: a parsed Mobility Header packet, the time (a monotonic [`Duration`] since start)
//! and randomness (an [`Entropy`]). Output: [`Action`]s: replies to send and binding-cache
//! changes to publish. No I/O, no clocks, no threads: tests drive it with a fake clock.
//!
//! [`Duration`]: std::time::Duration

#![forbid(unsafe_code)]

pub mod cache;
pub mod crypto;
pub mod entropy;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod limits;
pub mod nonces;
pub mod reflector;

pub use cache::{Binding, BindingKey};
pub use entropy::{Entropy, OsEntropy, TestEntropy};
pub use reflector::{Action, Config, DeleteReason, DeregAuthenticatedWith, DropReason, Inbound, Reflector, Reply, Stats};
