//! Drivers: the loops that move bytes between a transport and the sans-IO [`crate::Client`],
//! wait for its deadlines and hand its events to a handler. [`blocking::Blocking`] over
//! `embedded_io`, [`nonblocking::NonBlocking`] over `embedded_io` + `ReadReady`/`WriteReady`
//! (never blocks; `nb::WouldBlock`), [`asynch::Async`] over `embedded_io_async`. The
//! blocking and async drivers are one body (the `operations!` macro in `steps.rs`); [`reconnect`] holds
//! the backoff all of them use, [`time`] the clock. No protocol rule lives here.

pub mod asynch;
pub mod blocking;
pub mod nonblocking;
pub mod reconnect;
pub(crate) mod steps;
pub mod time;
