//! Sessions across a reset (feature `persistence`): the snapshot of what resuming a session
//! needs — the store's entries (our unacknowledged QoS 1/2 messages, the PUBRELs due, the
//! broker's QoS 2 ids we answered, pending (un)subscribes), the next packet identifier — plus
//! bytes of the application's own, saved together.
//!
//! With `ConnectOptions::persist_session`, the client hands out [`crate::Event::SaveSession`]
//! whenever the session changed, **before** anything that depends on the change goes on the
//! wire: a new message before its PUBLISH, an acknowledgement before its PUBACK / PUBREC /
//! PUBCOMP — after the message was handed to you, so your state saved with it includes it. Write the snapshot (and your own state, e.g. what you have processed)
//! to flash then; at boot, [`crate::Client::restore_session`] puts it back before `connect`.
//! A reset at any point then loses nothing and repeats no QoS 2 message: what the broker saw
//! was saved first.
//!
//! A save can fail (the flash is worn or full): say so with [`Session::failed`] in the
//! handler. The client then writes nothing that depended on it — the connection is closed,
//! and the operations made since the last good save are dropped from the session (never
//! sent) with [`crate::CallerError::SessionNotSaved`] — and asks for the save again before
//! the next CONNECT.
//!
//! Format (version 2), little-endian: `"UMQS"`, version, 0, next packet id (u16), identity
//! (u32: CRC-32 of the encoded CONNECT — **without the password**, which never reaches the
//! flash in any form — and the resubscribe packets, so a snapshot of another client or
//! other options is refused), entries length (u32), application length (u32), the entries,
//! the application bytes, CRC-32 of all before it. Version 1 covered the password too: a
//! CRC-32 of it can be brute-forced from the flash.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::packet::PacketId;

use super::store::{ENTRY_OVERHEAD, Kind};

const MAGIC: [u8; 4] = *b"UMQS";
/// The snapshot format this version writes and reads.
pub const SNAPSHOT_VERSION: u8 = 2;
const HEADER: usize = 4 + 1 + 1 + 2 + 4 + 4 + 4;
const TRAILER: usize = 4;

/// Why a snapshot cannot be written or trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SnapshotError {
    /// The output buffer is too small: this many bytes are needed.
    TooSmall {
        /// Bytes the snapshot needs.
        needed: usize,
    },
    /// Not a snapshot (no magic), or shorter than one.
    NotASnapshot,
    /// Written by another format version.
    Version(u8),
    /// The checksum does not match: a write cut short (torn) or damaged.
    Torn,
    /// A snapshot of another client (other client id, will, credentials or resubscriptions).
    OtherClient,
    /// The checksum matches but the entries do not parse or do not fit this client's store.
    Corrupt,
    /// The client is connected: restore before `connect`.
    InUse,
    /// A message in the snapshot is larger than this client's tx buffer: it could never be
    /// resent. Give tx at least `needed` bytes.
    TxTooSmall {
        /// The largest message's encoded size.
        needed: usize,
    },
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SnapshotError::TooSmall { needed } => {
                write!(f, "the snapshot needs {needed} bytes")
            }
            SnapshotError::NotASnapshot => f.write_str("not a session snapshot"),
            SnapshotError::Version(v) => write!(f, "a session snapshot of format version {v}"),
            SnapshotError::Torn => {
                f.write_str("the session snapshot is torn or damaged (checksum mismatch)")
            }
            SnapshotError::OtherClient => {
                f.write_str("the session snapshot belongs to another client or other options")
            }
            SnapshotError::Corrupt => f.write_str("the session snapshot's entries are invalid"),
            SnapshotError::InUse => f.write_str("restore the session before connecting"),
            SnapshotError::TxTooSmall { needed } => write!(
                f,
                "the session snapshot holds a {needed}-byte message, larger than the tx buffer"
            ),
        }
    }
}

impl core::error::Error for SnapshotError {}

/// Where [`Session::failed`] leaves its word for the client (read at the client's next call).
/// An atomic only for its load and store (every target has them): the client stays `Sync`.
#[derive(Default)]
pub(crate) struct SaveFailure(AtomicBool);

impl SaveFailure {
    /// True (once) when the snapshot handed out last could not be saved.
    pub(crate) fn take(&self) -> bool {
        let failed = self.0.load(Ordering::Relaxed);
        self.0.store(false, Ordering::Relaxed);
        failed
    }

    /// True while a failure is reported and not yet taken.
    pub(crate) fn reported(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl core::fmt::Debug for SaveFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.reported() { "failed" } else { "-" })
    }
}

/// Every `Session` equals every other in this field: it is a channel, not data.
impl PartialEq for SaveFailure {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SaveFailure {}

#[cfg(feature = "defmt")]
impl defmt::Format for SaveFailure {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "-");
    }
}

/// The session to save, borrowed from the client ([`crate::Event::SaveSession`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Session<'a> {
    pub(crate) entries: &'a [u8],
    /// The ids of the inbound table (big-endian), written as entries of [`Kind::Inbound`]
    /// without a body.
    pub(crate) inbound: &'a [u8],
    pub(crate) next_pid: u16,
    pub(crate) identity: u32,
    pub(crate) failure: &'a SaveFailure,
}

impl Session<'_> {
    /// Tells the client this snapshot could not be saved (the flash refused the write): call
    /// it from the handler, before the client's next call. Nothing that depends on it is
    /// written: the client's next call returns [`crate::CallerError::SessionNotSaved`] and
    /// closes the connection, the messages and (un)subscribes made since the last good save
    /// are dropped from the session (they never went out: do them again once connected),
    /// and the next connection asks for the save again before its CONNECT.
    pub fn failed(&self) {
        self.failure.0.store(true, Ordering::Relaxed);
    }

    /// The snapshot's length with `app_len` bytes of the application's own.
    pub fn snapshot_len(&self, app_len: usize) -> usize {
        HEADER + self.entries_len() + app_len + TRAILER
    }

    /// The snapshot's entries: the store's, then one without a body per inbound id.
    fn entries_len(&self) -> usize {
        self.entries.len() + self.inbound_entries().count() * ENTRY_OVERHEAD
    }

    /// An entry header per id the inbound table holds.
    fn inbound_entries(&self) -> impl Iterator<Item = [u8; ENTRY_OVERHEAD]> + '_ {
        self.inbound.chunks_exact(2).filter_map(|id| match *id {
            [hi, lo] => Some([Kind::Inbound as u8, 0, hi, lo, 0, 0, 0, 0]),
            _ => None,
        })
    }

    /// Writes the snapshot, with `app` (the application's state, saved with the session),
    /// into `out`; returns its length.
    pub fn write_snapshot(&self, app: &[u8], out: &mut [u8]) -> Result<usize, SnapshotError> {
        let needed = self.snapshot_len(app.len());
        let (Ok(entries_len), Ok(app_len)) =
            (u32::try_from(self.entries_len()), u32::try_from(app.len()))
        else {
            return Err(SnapshotError::TooSmall { needed });
        };
        let Some(out) = out.get_mut(..needed) else {
            return Err(SnapshotError::TooSmall { needed });
        };
        let header: [u8; HEADER] = {
            let mut h = [0u8; HEADER];
            let fields = [
                u32::from_le_bytes(MAGIC),
                u32::from_le_bytes([SNAPSHOT_VERSION, 0, 0, 0]) | (u32::from(self.next_pid) << 16),
                self.identity,
                entries_len,
                app_len,
            ];
            for (dst, field) in h.chunks_exact_mut(4).zip(fields) {
                for (d, b) in dst.iter_mut().zip(field.to_le_bytes()) {
                    *d = b;
                }
            }
            h
        };
        // Byte by byte through iterators: no length check the optimiser must prove.
        let inbound = self.inbound_entries().flatten();
        let parts = header.iter().chain(self.entries).copied();
        let parts = parts.chain(inbound).chain(app.iter().copied());
        for (dst, src) in out.iter_mut().zip(parts) {
            *dst = src;
        }
        let body = out.get(..needed - TRAILER).unwrap_or_default();
        let crc = crc32(body).to_le_bytes();
        if let Some(dst) = out.get_mut(needed - TRAILER..needed) {
            for (d, b) in dst.iter_mut().zip(crc) {
                *d = b;
            }
        }
        Ok(needed)
    }
}

/// A snapshot, checked: its entries and application bytes.
pub(crate) struct Parsed<'a> {
    pub next_pid: u16,
    pub entries: &'a [u8],
    pub app: &'a [u8],
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let &[x0, x1, x2, x3] = b.get(at..at + 4)? else {
        return None;
    };
    Some(u32::from_le_bytes([x0, x1, x2, x3]))
}

/// Checks a snapshot: magic, version, checksum, identity, that the entries parse, and that
/// every message fits `tx` (to be resent).
pub(crate) fn parse(data: &[u8], identity: u32, tx: usize) -> Result<Parsed<'_>, SnapshotError> {
    if data.len() < HEADER + TRAILER || data.get(..4) != Some(&MAGIC[..]) {
        return Err(SnapshotError::NotASnapshot);
    }
    let version = data.get(4).copied().unwrap_or(0);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version(version));
    }
    let body_len = data.len() - TRAILER;
    let stored = u32_at(data, body_len).ok_or(SnapshotError::NotASnapshot)?;
    if crc32(data.get(..body_len).unwrap_or_default()) != stored {
        return Err(SnapshotError::Torn);
    }
    let next_pid = match data.get(6..8) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => return Err(SnapshotError::NotASnapshot),
    };
    if u32_at(data, 8) != Some(identity) {
        return Err(SnapshotError::OtherClient);
    }
    let entries_len = u32_at(data, 12).ok_or(SnapshotError::Corrupt)? as usize;
    let app_len = u32_at(data, 16).ok_or(SnapshotError::Corrupt)? as usize;
    if HEADER
        .checked_add(entries_len)
        .and_then(|n| n.checked_add(app_len))
        != Some(body_len)
    {
        return Err(SnapshotError::Corrupt);
    }
    let entries = data
        .get(HEADER..HEADER + entries_len)
        .ok_or(SnapshotError::Corrupt)?;
    let app = data
        .get(HEADER + entries_len..body_len)
        .ok_or(SnapshotError::Corrupt)?;
    check_entries(entries, tx)?;
    Ok(Parsed {
        next_pid,
        entries,
        app,
    })
}

/// Every entry header names a kind, a non-zero id and a body within the bytes; every message
/// (an encoded PUBLISH) fits `tx`.
fn check_entries(mut entries: &[u8], tx: usize) -> Result<(), SnapshotError> {
    let mut largest = 0;
    while !entries.is_empty() {
        let &[kind, _flags, h0, h1, l0, l1, l2, l3] = entries
            .get(..ENTRY_OVERHEAD)
            .ok_or(SnapshotError::Corrupt)?
        else {
            return Err(SnapshotError::Corrupt);
        };
        let kind = Kind::from_u8(kind).ok_or(SnapshotError::Corrupt)?;
        PacketId::new(u16::from_be_bytes([h0, h1])).ok_or(SnapshotError::Corrupt)?;
        let body = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        if matches!(kind, Kind::AwaitPuback | Kind::AwaitPubrec) {
            largest = largest.max(body);
        }
        let end = ENTRY_OVERHEAD
            .checked_add(body)
            .ok_or(SnapshotError::Corrupt)?;
        entries = entries.get(end..).ok_or(SnapshotError::Corrupt)?;
    }
    if largest > tx {
        return Err(SnapshotError::TxTooSmall { needed: largest });
    }
    Ok(())
}

/// CRC-32 (IEEE 802.3), bit by bit: no table in flash.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    !crc32_update(!0, data)
}

/// Feeds `data` into a running CRC-32 (start with `!0`, finish with `!`).
pub(crate) fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    crc
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_snapshot_round_trips_and_every_damage_is_caught() {
        // One entry: kind 1 (QoS 1 publish), flags 0, id 7, a 3-byte body.
        let entries = [1, 0, 0, 7, 3, 0, 0, 0, 0xAA, 0xBB, 0xCC];
        let s = Session {
            entries: &entries,
            inbound: &[],
            next_pid: 9,
            identity: 0x1234_5678,
            failure: &SaveFailure::default(),
        };
        let mut out = [0u8; 64];
        let n = s.write_snapshot(b"app", &mut out).unwrap();
        assert_eq!(n, s.snapshot_len(3));
        let p = parse(&out[..n], 0x1234_5678, 64).ok().unwrap();
        assert_eq!(
            (p.next_pid, p.entries, p.app),
            (9, &entries[..], &b"app"[..])
        );
        assert_eq!(
            parse(&out[..n], 1, 64).err(),
            Some(SnapshotError::OtherClient)
        );
        // A 3-byte message and a 2-byte tx: it could never be resent.
        let refused = parse(&out[..n], 0x1234_5678, 2).err();
        assert_eq!(refused, Some(SnapshotError::TxTooSmall { needed: 3 }));
        // Torn: cut anywhere, or any byte flipped.
        for cut in 0..n {
            assert!(parse(&out[..cut], 0x1234_5678, 64).is_err(), "cut at {cut}");
        }
        for i in 4..n {
            let mut bad = out;
            bad[i] ^= 0x01;
            assert!(parse(&bad[..n], 0x1234_5678, 64).is_err(), "flip at {i}");
        }
        assert_eq!(
            s.write_snapshot(b"app", &mut out[..10]),
            Err(SnapshotError::TooSmall { needed: n })
        );
    }
}
