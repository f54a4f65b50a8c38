//! Board-independent parts of the firmware: the seed program ([`app`], the `umqtt-w5500-app` crate), the board glue
//! shared by the binaries ([`board`]), and a scripted in-memory broker for runs without a
//! network ([`script`]). It also holds the binaries' panic handler (`no_panic.rs`): linking
//! this crate is what makes a binary prove it cannot panic.
#![no_std]
#![deny(unsafe_code)]

pub use umqtt_w5500_app as app;
// The global defmt logger (RTT) that umqtt's records go to, with feature `defmt`.
#[cfg(feature = "defmt")]
use defmt_rtt as _;
pub mod board;
mod no_panic;
pub mod script;
