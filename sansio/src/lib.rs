//! The sans-IO core on its own: [`umqtt::Client`] fed bytes and a plain `now` (milliseconds
//! from 0), asked for bytes to send — no driver, no transport, no clock.
//!
//! A crate of its own so that `cargo test -p umqtt-sansio` builds umqtt with its default
//! features only: the core's paths without `streaming` and `persistence` (a PUBLISH larger
//! than rx refused, no snapshot step) run on the host, which the root crate's tests (its
//! dev-dependency on itself enables every feature) never do. `--features all` runs the same
//! tests over the core with both compiled in.

#[cfg(test)]
mod wire;

#[cfg(test)]
mod tests;
