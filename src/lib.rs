#![doc = include_str!("../README.md")]
//!
//! ## The floors, top-down
//!
//! - **Managed clients** ([`managed`], feature `std`): [`StdClient`] and the tokio
//!   [`managed::tokio::TokioClient`] own their buffers and connection, reconnect, restore
//!   subscriptions and hand out owned events.
//! - **Transports** ([`transport`]): std TCP, rustls, embedded-tls, tokio.
//! - **Drivers** ([`driver`]): [`Blocking`], [`NonBlocking`], [`Async`] move bytes between a
//!   transport and the core, wait for its deadlines and hand its events to a handler; no
//!   protocol rule lives there.
//! - **The core** ([`client`]): the sans-IO [`Client`], fed bytes and the time; its module
//!   docs hold the buffer-sizing rule and how to write a driver. Errors: [`Error`].
//! - **The codec** ([`packet`], [`topic`]): [`packet::decode`] borrows every field of a
//!   packet from the input bytes and reports how many more bytes a partial packet needs;
//!   [`packet::Packet::encode`] writes into a caller-provided buffer whose exact size
//!   [`packet::Packet::encoded_len`] gives first. Topic names and filters are validated types
//!   ([`topic::TopicName`], [`topic::TopicFilter`]) and [`topic::matches`] implements the
//!   matching rules of section 4.7.
//!
//! ```
//! use umqtt::packet::{decode, Packet, Publish, QosPid, Status};
//! use umqtt::topic::TopicName;
//!
//! let publish = Packet::Publish(Publish {
//!     dup: false,
//!     qos: QosPid::AtMostOnce,
//!     retain: false,
//!     topic: TopicName::new("sensors/kitchen/temp")?,
//!     payload: b"21.5",
//! });
//! let mut buf = [0u8; 64];
//! let n = publish.encode(&mut buf)?;
//! assert_eq!(n, publish.encoded_len());
//!
//! // A prefix tells how much more is needed; the whole packet decodes, borrowing `buf`.
//! assert!(matches!(decode(&buf[..3])?, Status::Partial { .. }));
//! match decode(&buf[..n])? {
//!     Status::Complete { packet, len } => {
//!         assert_eq!(len, n);
//!         assert_eq!(packet, publish);
//!     }
//!     Status::Partial { .. } => unreachable!(),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Diagnostics: feature `defmt` makes every public error, event and packet type
//! `defmt::Format` and sends the library's few log records (connect, refusal, protocol
//! close, lost connection, reconnect attempts — none per message) to defmt; feature `log`
//! sends the same records to the `log` crate (target `umqtt`). Without them the records
//! compile to nothing.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link to every front end; built without the features that hold some of them, those
// links go unresolved by design (CI and docs.rs build them with every feature, `-D warnings`).
#![cfg_attr(
    not(all(
        feature = "tokio-websocket",
        feature = "embedded-tls",
        feature = "persistence"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[cfg(any(feature = "std", test))]
extern crate std;

#[macro_use]
mod logging;

pub mod client;
pub mod driver;
mod error;
#[cfg(feature = "std")]
pub mod managed;
pub mod packet;
pub mod transport;

#[cfg(feature = "std")]
pub use error::StdError;
pub use error::{BrokerError, CallerError, ConfigError, Error, LinkError};
/// The `nb` crate the non-blocking operations answer in (`nb::block!`, `nb::Error::WouldBlock`).
pub use nb;
pub use packet::topic;

// The front door: what a program using the client needs, under `umqtt::`.
pub use client::{Chunk, Client, ConnectOptions, Event, Lost, State};
pub use driver::asynch::Async;
pub use driver::blocking::Blocking;
pub use driver::nonblocking::NonBlocking;
pub use driver::reconnect::Backoff;
pub use driver::time::Clock;
#[cfg(all(feature = "std", unix))]
pub use managed::std_handle::{StdHandle, StdNetwork};
pub use packet::{PacketId, Publish, QoS, SubackCode, Subscription};
#[cfg(feature = "std")]
pub use {
    driver::time::{StdClock, StdDelay},
    managed::std_client::StdClient,
    transport::tcp::TcpTransport,
};

/// The guide's examples (docs/GUIDE.md), compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/GUIDE.md")]
struct GuideDoctests;
