//! The session store: every packet identifier the session owes an answer for, in send order,
//! with the bytes needed to resend a PUBLISH, kept in caller-provided memory.
//!
//! Each entry is an 8-byte header — kind, flags, packet identifier, body length — followed by
//! its body: the encoded PUBLISH for a QoS 1/2 message not yet past PUBACK / PUBREC, the filter
//! count for a pending SUBSCRIBE, nothing otherwise. The order of the entries is the order
//! they were sent in. Every per-message operation is constant time whatever the store holds:
//! the oldest entry (the one an in-order acknowledgement takes) is removed by moving the
//! log's start past it, and the log is moved back to the front only when an entry does not
//! fit at its end (each byte moved at most once per store's worth of entries pushed); the
//! oldest unsent entry is remembered, so writing what waits does not walk what was sent.
//! Only an entry removed from the middle (an acknowledgement out of order) closes its gap.
//!
//! The broker's QoS 2 ids awaiting PUBREL sit in a table of
//! [`ConnectOptions::inbound_window`](crate::ConnectOptions::inbound_window) slots of
//! [`INBOUND_ID_BYTES`] between the prefix and the log, so finding one costs the same
//! whatever the log holds. Only a broker that goes past the window (mosquitto 2.0 lets its
//! in-flight window grow while messages queue) gets its further ids in the log as entries,
//! which are then walked.

use super::buffers::drop_front;
use crate::packet::PacketId;

/// Header bytes per entry: the store's overhead per message.
pub const ENTRY_OVERHEAD: usize = 8;

/// Store bytes per slot of the inbound window: one of the broker's QoS 2 ids awaiting PUBREL.
pub const INBOUND_ID_BYTES: usize = 2;

/// What an entry waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Our QoS 1 PUBLISH, awaiting PUBACK. Body: the encoded PUBLISH.
    AwaitPuback = 1,
    /// Our QoS 2 PUBLISH, awaiting PUBREC. Body: the encoded PUBLISH.
    AwaitPubrec = 2,
    /// Our PUBREL, awaiting PUBCOMP. No body.
    AwaitPubcomp = 3,
    /// Our SUBSCRIBE, awaiting SUBACK. Body: the filter count (u16).
    AwaitSuback = 4,
    /// Our UNSUBSCRIBE, awaiting UNSUBACK. No body.
    AwaitUnsuback = 5,
    /// The broker's QoS 2 PUBLISH, delivered, awaiting its PUBREL (the broker's id space):
    /// in the log only past the inbound table (and in session snapshots). No body.
    Inbound = 6,
}

impl Kind {
    pub(crate) fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::AwaitPuback,
            2 => Kind::AwaitPubrec,
            3 => Kind::AwaitPubcomp,
            4 => Kind::AwaitSuback,
            5 => Kind::AwaitUnsuback,
            6 => Kind::Inbound,
            _ => return None,
        })
    }

    /// True for our QoS 1/2 messages (they count against the in-flight window).
    pub(crate) fn is_publish(self) -> bool {
        matches!(
            self,
            Kind::AwaitPuback | Kind::AwaitPubrec | Kind::AwaitPubcomp
        )
    }
}

/// A set of kinds, for [`Store::find`] (a mask, not a closure: one copy of the search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kinds(u8);

impl Kinds {
    /// Entries that hold one of our own packet identifiers (everything but inbound QoS 2).
    pub const OURS: Kinds = Kinds(!(1 << Kind::Inbound as u8));

    /// Just `kind`.
    pub const fn of(kind: Kind) -> Kinds {
        Kinds(1 << kind as u8)
    }

    pub fn contains(self, kind: Kind) -> bool {
        self.0 & (1 << kind as u8) != 0
    }
}

/// Entry flag: the packet still has to be (re)sent on this connection.
pub(crate) const UNSENT: u8 = 0x01;
/// Entry flag: the session was lost; the entry is to be reported, then removed.
pub(crate) const LOST: u8 = 0x02;
/// Entry flag: a streamed PUBLISH; the body is its head only, the payload was never kept.
#[cfg(feature = "streaming")]
pub(crate) const STREAMED: u8 = 0x04;

/// Entry flag: added since the last session save the application confirmed (feature
/// `persistence`); dropped if that save fails.
#[cfg(feature = "persistence")]
pub(crate) const UNSAVED: u8 = 0x08;

/// A located entry (valid until the store changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub offset: usize,
    pub kind: Kind,
    pub flags: u8,
    pub pid: PacketId,
    pub body_len: usize,
}

impl Entry {
    pub fn end(&self) -> usize {
        self.offset + ENTRY_OVERHEAD + self.body_len
    }
}

/// How many entries of each sort the store holds, kept as entries come and go: what the
/// client asks on every packet costs the same whatever the store holds (a broker that leaves
/// thousands of QoS 2 ids unreleased cannot slow every packet down).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Our QoS 1/2 messages in flight (the kinds [`Kind::is_publish`] names).
    pub publishes: usize,
    /// The broker's QoS 2 messages awaiting PUBREL in the log (past the inbound table;
    /// [`Store::inbound`] counts both).
    pub inbound: usize,
    /// Entries flagged [`UNSENT`].
    pub unsent: usize,
    /// Entries flagged [`LOST`].
    pub lost: usize,
}

impl Counts {
    /// Counts `kind` with `flags` in (`up`) or out. Branch-free and wrapping: the counts
    /// follow the entries exactly (an entry is counted out only after it was counted in).
    fn add(&mut self, kind: Kind, flags: u8, up: bool) {
        let step = if up { 1 } else { usize::MAX };
        let by = |on: bool| step & usize::from(on).wrapping_neg();
        self.publishes = self.publishes.wrapping_add(by(kind.is_publish()));
        self.inbound = self.inbound.wrapping_add(by(kind == Kind::Inbound));
        self.reflag(0, if up { flags } else { 0 });
        self.reflag(if up { 0 } else { flags }, 0);
    }

    /// An entry's flags change from `old` to `new`.
    #[inline(always)]
    fn reflag(&mut self, old: u8, new: u8) {
        let delta = |bit: u8| usize::from(new & bit != 0).wrapping_sub(usize::from(old & bit != 0));
        self.unsent = self.unsent.wrapping_add(delta(UNSENT));
        self.lost = self.lost.wrapping_add(delta(LOST));
    }
}

/// The store, over the caller's buffer: first a fixed prefix (the client's CONNECT and
/// resubscribe packets), then the inbound table, then the entries.
pub(crate) struct Store<B> {
    buf: B,
    /// The prefix's length: where the inbound table starts.
    prefix: usize,
    /// Where the entries may start: the inbound table's end.
    base: usize,
    /// Where the first entry starts (`base` after a compaction; entries removed from the
    /// front leave free bytes before it).
    head: usize,
    /// No entry flagged [`UNSENT`] starts before this offset.
    unsent_from: usize,
    /// Where the entries end.
    len: usize,
    /// Entries added or removed so far (a session snapshot is due when this moves).
    changes: u32,
    /// How many ids the inbound table holds (packed at its start).
    tabled: usize,
    /// The entries, counted by sort.
    counts: Counts,
}

impl<B: super::Buffer> Store<B> {
    /// A store whose first `prefix` bytes `write` fills, with an inbound table of `slots`
    /// ids after them; `None` when the buffer is smaller or `write` fails.
    pub fn new(
        mut buf: B,
        prefix: usize,
        slots: usize,
        write: impl FnOnce(&mut [u8]) -> bool,
    ) -> Option<Self> {
        let base = prefix.checked_add(slots.checked_mul(INBOUND_ID_BYTES)?)?;
        buf.as_ref().get(..base)?; // room for the table
        if !write(buf.as_mut().get_mut(..prefix)?) {
            return None;
        }
        Some(Store {
            buf,
            prefix,
            base,
            head: base,
            unsent_from: base,
            len: base,
            changes: 0,
            tabled: 0,
            counts: Counts::default(),
        })
    }

    /// The prefix bytes in `range`.
    pub fn prefix(&self, range: core::ops::Range<usize>) -> &[u8] {
        self.buf
            .as_ref()
            .get(..self.prefix)
            .and_then(|p| p.get(range))
            .unwrap_or(&[])
    }

    /// Free bytes (at the end, and before the first entry).
    pub fn free(&self) -> usize {
        self.buf.as_ref().len() - self.len + (self.head - self.base)
    }

    /// Capacity for entries in bytes.
    pub fn capacity(&self) -> usize {
        self.buf.as_ref().len() - self.base
    }

    /// The first entry's offset.
    pub fn first(&self) -> usize {
        self.head
    }

    /// The offset from which entries flagged [`UNSENT`] may start.
    pub fn first_unsent(&self) -> usize {
        self.unsent_from.max(self.head)
    }

    /// Nothing before `offset` is flagged [`UNSENT`] any more (what was there was written).
    pub fn sent_up_to(&mut self, offset: usize) {
        self.unsent_from = offset.min(self.len);
    }

    /// The entry at `offset`, if one starts there.
    pub fn entry_at(&self, offset: usize) -> Option<Entry> {
        if offset < self.head || offset >= self.len {
            return None;
        }
        let header = self
            .buf
            .as_ref()
            .get(offset..offset.checked_add(ENTRY_OVERHEAD)?)?;
        let &[kind, flags, hi, lo, l0, l1, l2, l3] = header else {
            return None;
        };
        Some(Entry {
            offset,
            kind: Kind::from_u8(kind)?,
            flags,
            pid: PacketId::new(u16::from_be_bytes([hi, lo]))?,
            body_len: u32::from_le_bytes([l0, l1, l2, l3]) as usize,
        })
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut offset = self.head;
        core::iter::from_fn(move || {
            let e = self.entry_at(offset)?;
            offset = e.end();
            Some(e)
        })
    }

    /// The first entry with `pid` whose kind is in `kinds`.
    pub fn find(&self, pid: PacketId, kinds: Kinds) -> Option<Entry> {
        self.iter().find(|e| e.pid == pid && kinds.contains(e.kind))
    }

    /// Appends an entry whose body `write` fills (it gets exactly `body_len` bytes) and returns
    /// true from. Returns false, changing nothing, when it does not fit or `write` cancels.
    pub fn push_with(
        &mut self,
        kind: Kind,
        flags: u8,
        pid: PacketId,
        body_len: usize,
        write: impl FnOnce(&mut [u8]) -> bool,
    ) -> bool {
        let Ok(len32) = u32::try_from(body_len) else {
            return false;
        };
        let Some(size) = body_len.checked_add(ENTRY_OVERHEAD) else {
            return false;
        };
        if size > self.free() {
            return false;
        }
        if self.len + size > self.buf.as_ref().len() {
            self.compact();
        }
        let start = self.len;
        let Some(end) = start.checked_add(size) else {
            return false;
        };
        let Some(slot) = self.buf.as_mut().get_mut(start..end) else {
            return false;
        };
        let (header, body) = slot.split_at_mut(ENTRY_OVERHEAD);
        let [h0, h1] = pid.get().to_be_bytes();
        let [l0, l1, l2, l3] = len32.to_le_bytes();
        header.copy_from_slice(&[kind as u8, flags, h0, h1, l0, l1, l2, l3]);
        if !write(body) {
            return false;
        }
        self.len = end;
        self.changes = self.changes.wrapping_add(1);
        self.counts.add(kind, flags, true);
        true
    }

    /// Appends an entry with the given body.
    pub fn push(&mut self, kind: Kind, flags: u8, pid: PacketId, body: &[u8]) -> bool {
        self.push_with(kind, flags, pid, body.len(), |dst| {
            dst.copy_from_slice(body);
            true
        })
    }

    /// The body of `e`.
    pub fn body(&self, e: &Entry) -> &[u8] {
        self.buf
            .as_ref()
            .get(e.offset + ENTRY_OVERHEAD..e.end())
            .unwrap_or(&[])
    }

    /// The body of `e`, writable.
    pub fn body_mut(&mut self, e: &Entry) -> &mut [u8] {
        self.buf
            .as_mut()
            .get_mut(e.offset + ENTRY_OVERHEAD..e.end())
            .unwrap_or(&mut [])
    }

    /// Sets the flags of `e`.
    pub fn set_flags(&mut self, e: &Entry, flags: u8) {
        if let Some(b) = self.buf.as_mut().get_mut(e.offset + 1) {
            self.counts.reflag(*b, flags);
            *b = flags;
            if flags & UNSENT != 0 {
                self.unsent_from = self.unsent_from.min(e.offset);
            }
        }
    }

    /// Moves the entries to the front of the free space (offsets change).
    fn compact(&mut self) {
        let shift = self.head - self.base;
        if shift == 0 {
            return;
        }
        if let Some(from) = self.buf.as_mut().get_mut(self.base..self.len) {
            drop_front(from, shift);
        }
        self.len -= shift;
        self.head = self.base;
        self.unsent_from = self.unsent_from.saturating_sub(shift).max(self.base);
    }

    /// Clears `flags` on every entry.
    #[cfg(feature = "persistence")]
    pub fn clear_flags(&mut self, flags: u8) {
        let mut offset = self.head;
        while let Some(e) = self.entry_at(offset) {
            offset = e.end();
            self.set_flags(&e, e.flags & !flags);
        }
    }

    /// Removes `e`, keeping the order of the rest: the first entry by moving the start past
    /// it, another by closing its gap.
    pub fn remove(&mut self, e: &Entry) {
        if e.offset < self.head || e.end() > self.len {
            return;
        }
        let flags = self.buf.as_ref().get(e.offset + 1).copied().unwrap_or(0);
        let size = e.end() - e.offset;
        if e.offset == self.head {
            self.head = e.end();
        } else if let Some(tail) = self.buf.as_mut().get_mut(e.offset..self.len) {
            self.len -= drop_front(tail, size);
            if self.unsent_from >= e.end() {
                self.unsent_from -= size;
            }
        }
        if self.head == self.len {
            // Empty: start again at the front.
            (self.head, self.len, self.unsent_from) = (self.base, self.base, self.base);
        }
        self.changes = self.changes.wrapping_add(1);
        self.counts.add(e.kind, flags, false);
    }

    /// Keeps the entries `keep` selects and removes the others.
    pub fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        let mut offset = self.head;
        while let Some(e) = self.entry_at(offset) {
            if keep(&e) {
                offset = e.end();
            } else {
                self.remove(&e);
                offset = offset.max(self.head); // the front removed, or the store emptied
            }
        }
    }

    /// How many times entries were added or removed.
    #[cfg(feature = "persistence")]
    pub fn changes(&self) -> u32 {
        self.changes
    }

    /// Counts a change that is not in the entries (a QoS 1 message acknowledged to the
    /// broker): the application's state saved with the session must follow it.
    #[cfg(feature = "persistence")]
    pub fn touch(&mut self) {
        self.changes = self.changes.wrapping_add(1);
    }

    /// The entries' bytes, as a session snapshot keeps them.
    #[cfg(feature = "persistence")]
    pub fn entries(&self) -> &[u8] {
        self.buf.as_ref().get(self.head..self.len).unwrap_or(&[])
    }

    /// The whole prefix (the encoded CONNECT and resubscribe SUBSCRIBE).
    #[cfg(feature = "persistence")]
    pub fn whole_prefix(&self) -> &[u8] {
        self.buf.as_ref().get(..self.prefix).unwrap_or(&[])
    }

    /// Replaces the entries and the inbound ids with those of `entries` (a snapshot's,
    /// checked by the caller); false when they do not fit.
    #[cfg(feature = "persistence")]
    pub fn restore(&mut self, mut entries: &[u8]) -> bool {
        self.release_all();
        (self.head, self.len, self.unsent_from) = (self.base, self.base, self.base);
        self.counts = Counts::default();
        while let Some(&[kind, flags, h0, h1, l0, l1, l2, l3]) = entries.get(..ENTRY_OVERHEAD) {
            let body_len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
            let (Some(kind), Some(pid), Some(body)) = (
                Kind::from_u8(kind),
                PacketId::new(u16::from_be_bytes([h0, h1])),
                entries.get(ENTRY_OVERHEAD..ENTRY_OVERHEAD.saturating_add(body_len)),
            ) else {
                return false;
            };
            let kept = match kind {
                Kind::Inbound => self.hold(pid),
                _ => self.push(kind, flags, pid, body),
            };
            if !kept {
                return false;
            }
            entries = entries
                .get(ENTRY_OVERHEAD + body.len()..)
                .unwrap_or_default();
        }
        true
    }

    /// The broker's QoS 2 ids awaiting PUBREL, in the table and past it.
    pub fn inbound(&self) -> usize {
        self.tabled + self.counts.inbound
    }

    /// The ids the inbound table holds, big-endian.
    fn held_ids(&self) -> &[u8] {
        let end = self.prefix + self.tabled * INBOUND_ID_BYTES;
        self.buf.as_ref().get(self.prefix..end).unwrap_or(&[])
    }

    /// The ids the inbound table holds, for a session snapshot (those past it are entries).
    #[cfg(feature = "persistence")]
    pub fn inbound_table(&self) -> &[u8] {
        self.held_ids()
    }

    /// Where the table holds `pid`.
    fn slot(&self, pid: PacketId) -> Option<usize> {
        let target = pid.get().to_be_bytes();
        let held = |id: &[u8]| matches!(*id, [hi, lo] if [hi, lo] == target);
        let at = self
            .held_ids()
            .chunks_exact(INBOUND_ID_BYTES)
            .position(held)?;
        Some(self.prefix + at * INBOUND_ID_BYTES)
    }

    /// The log's entry for `pid`, past the table (only looked for when there are such).
    fn logged(&self, pid: PacketId) -> Option<Entry> {
        match self.counts.inbound {
            0 => None,
            _ => self.find(pid, Kinds::of(Kind::Inbound)),
        }
    }

    /// The broker's QoS 2 id `pid` awaits its PUBREL.
    pub fn held(&self, pid: PacketId) -> bool {
        self.slot(pid).is_some() || self.logged(pid).is_some()
    }

    /// Holds the broker's QoS 2 id `pid` until its PUBREL: in the table, or past it in the
    /// log; false when neither has room.
    pub fn hold(&mut self, pid: PacketId) -> bool {
        let at = self.prefix + self.tabled * INBOUND_ID_BYTES;
        match self.buf.as_mut().get_mut(at..at + INBOUND_ID_BYTES) {
            Some(dst) if at < self.base => dst.copy_from_slice(&pid.get().to_be_bytes()),
            _ => return self.push(Kind::Inbound, 0, pid, &[]),
        }
        self.tabled += 1;
        self.changes = self.changes.wrapping_add(1);
        true
    }

    /// The broker released `pid` (PUBREL): the last id of the table takes its slot.
    pub fn release(&mut self, pid: PacketId) {
        let Some(at) = self.slot(pid) else {
            if let Some(e) = self.logged(pid) {
                self.remove(&e);
            }
            return;
        };
        self.tabled = self.tabled.wrapping_sub(1);
        let last = self.prefix + self.tabled * INBOUND_ID_BYTES;
        let moved = match self.buf.as_ref().get(last..last + INBOUND_ID_BYTES) {
            Some(&[hi, lo]) => [hi, lo],
            _ => return,
        };
        if let Some(dst) = self.buf.as_mut().get_mut(at..at + INBOUND_ID_BYTES) {
            dst.copy_from_slice(&moved);
        }
        self.changes = self.changes.wrapping_add(1);
    }

    /// Frees every id (a new session: the broker holds none of its ids any more).
    pub fn release_all(&mut self) {
        if self.counts.inbound > 0 {
            self.retain(|e| e.kind != Kind::Inbound);
        }
        if self.tabled > 0 {
            self.tabled = 0;
            self.changes = self.changes.wrapping_add(1);
        }
    }

    /// The entries, counted by sort (constant time).
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests;
