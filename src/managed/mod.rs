//! Managed clients (feature `std`): they own the buffers and the connection, reconnect with
//! backoff, restore subscriptions and publish again what a new session lost, and hand you
//! owned messages. [`std_client::StdClient`] for threads (and [`std_handle::StdHandle`], paho's `loop_start`: the
//! network in a thread of its own, a handle for every other), [`tokio::TokioClient`] with its
//! [`tokio::EventLoop`] for tokio (feature `tokio`). Both are built from the same parts: the
//! [`owned`] events and the subscription book (which filters to restore, which answers are
//! due).

pub mod owned;
pub mod std_client;
#[cfg(unix)]
pub mod std_handle;
mod subscriptions;
#[cfg(feature = "tokio")]
pub mod tokio;
