//! Board-independent parts of the firmware: the seed program ([`app`]), the board glue
//! shared by the binaries ([`board`]), and a scripted in-memory broker for runs without a
//! network ([`script`]).
#![no_std]
#![forbid(unsafe_code)]

pub mod app;
pub mod board;
pub mod script;
