//! Packet views and rewrites for roagent, in plain Rust with no DPDK.
//!
//! Views (`Foo<T: AsRef<[u8]>>`) validate length once in `new_checked`; no accessor can
//! panic or read out of bounds afterwards. `Repr`s build messages for signaling and tests.
//! Every rejection is a small `Copy` [`Error`] whose reason doubles as a drop counter name.

#![forbid(unsafe_code)]

pub mod addr;
pub mod checksum;
pub mod error;

pub mod ethernet;
pub mod ext;
pub mod hao;
pub mod icmpv6;
pub mod ipv6;
pub mod mobility;
pub mod nd;
pub mod pmip;
pub mod rh2;
pub mod tunnel;

#[cfg(any(test, feature = "test-support"))]
pub mod testpkt;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use error::{Error, Result};
