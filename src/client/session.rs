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
//! Format (version 1), little-endian: `"UMQS"`, version, 0, next packet id (u16), identity
//! (u32: CRC-32 of the encoded CONNECT and resubscribe packets, so a snapshot of another
//! client or other options is refused), entries length (u32), application length (u32), the
//! entries, the application bytes, CRC-32 of all before it.

use crate::packet::PacketId;

use super::store::{ENTRY_OVERHEAD, Kind};

const MAGIC: [u8; 4] = *b"UMQS";
/// The snapshot format this version writes and reads.
pub const SNAPSHOT_VERSION: u8 = 1;
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
        }
    }
}

impl core::error::Error for SnapshotError {}

/// The session to save, borrowed from the client ([`crate::Event::SaveSession`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Session<'a> {
    pub(crate) entries: &'a [u8],
    pub(crate) next_pid: u16,
    pub(crate) identity: u32,
}

impl Session<'_> {
    /// The snapshot's length with `app_len` bytes of the application's own.
    pub fn snapshot_len(&self, app_len: usize) -> usize {
        HEADER + self.entries.len() + app_len + TRAILER
    }

    /// Writes the snapshot, with `app` (the application's state, saved with the session),
    /// into `out`; returns its length.
    pub fn write_snapshot(&self, app: &[u8], out: &mut [u8]) -> Result<usize, SnapshotError> {
        let needed = self.snapshot_len(app.len());
        let (Ok(entries_len), Ok(app_len)) =
            (u32::try_from(self.entries.len()), u32::try_from(app.len()))
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
        let parts = header.iter().chain(self.entries).chain(app);
        for (dst, src) in out.iter_mut().zip(parts) {
            *dst = *src;
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

/// Checks a snapshot: magic, version, checksum, identity, and that the entries parse.
pub(crate) fn parse(data: &[u8], identity: u32) -> Result<Parsed<'_>, SnapshotError> {
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
    check_entries(entries)?;
    Ok(Parsed {
        next_pid,
        entries,
        app,
    })
}

/// Every entry header names a kind, a non-zero id and a body within the bytes.
fn check_entries(mut entries: &[u8]) -> Result<(), SnapshotError> {
    while !entries.is_empty() {
        let &[kind, _flags, h0, h1, l0, l1, l2, l3] = entries
            .get(..ENTRY_OVERHEAD)
            .ok_or(SnapshotError::Corrupt)?
        else {
            return Err(SnapshotError::Corrupt);
        };
        Kind::from_u8(kind).ok_or(SnapshotError::Corrupt)?;
        PacketId::new(u16::from_be_bytes([h0, h1])).ok_or(SnapshotError::Corrupt)?;
        let body = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        let end = ENTRY_OVERHEAD
            .checked_add(body)
            .ok_or(SnapshotError::Corrupt)?;
        entries = entries.get(end..).ok_or(SnapshotError::Corrupt)?;
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
            next_pid: 9,
            identity: 0x1234_5678,
        };
        let mut out = [0u8; 64];
        let n = s.write_snapshot(b"app", &mut out).unwrap();
        assert_eq!(n, s.snapshot_len(3));
        let p = parse(&out[..n], 0x1234_5678).ok().unwrap();
        assert_eq!(
            (p.next_pid, p.entries, p.app),
            (9, &entries[..], &b"app"[..])
        );
        assert_eq!(parse(&out[..n], 1).err(), Some(SnapshotError::OtherClient));
        // Torn: cut anywhere, or any byte flipped.
        for cut in 0..n {
            assert!(parse(&out[..cut], 0x1234_5678).is_err(), "cut at {cut}");
        }
        for i in 4..n {
            let mut bad = out;
            bad[i] ^= 0x01;
            assert!(parse(&bad[..n], 0x1234_5678).is_err(), "flip at {i}");
        }
        assert_eq!(
            s.write_snapshot(b"app", &mut out[..10]),
            Err(SnapshotError::TooSmall { needed: n })
        );
    }
}
