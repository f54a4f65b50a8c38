//! Board-independent parts of the firmware: the seed program ([`app`]) and the board glue
//! shared by the binaries ([`board`]).
#![no_std]
#![forbid(unsafe_code)]

pub mod app;
pub mod board;
