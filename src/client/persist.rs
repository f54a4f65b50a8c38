//! Session snapshots in flash (feature `persistence`): [`FlashSlots`] keeps the newest
//! snapshot in one of two slots of a NOR flash range (embedded-storage's `NorFlash`, the
//! ecosystem's flash interface), alternating, so a write cut by a reset never destroys the
//! last good one.
//!
//! Each slot: a 16-byte header — `"UMQF"`, sequence number, length, CRC-32 of the sequence
//! number, length and data — then the data. A save erases (the part it needs of) the older
//! slot, writes the data, then the header: a reset before the header leaves an empty slot, one during it a torn one.
//! [`FlashSlots::load`] returns the valid slot with the higher sequence number and says
//! whether a newer slot was torn (then the older snapshot is the right one: nothing that
//! depended on the torn one was sent, since the client saves before it writes).
//!
//! ```no_run
//! use embedded_storage::nor_flash::NorFlash;
//! use umqtt::client::persist::FlashSlots;
//! use umqtt::{Client, Event};
//!
//! /// At boot: the slots, and the session (with the application's bytes) put back.
//! fn boot<F: NorFlash>(flash: F, client: &mut Client<Vec<u8>>) -> Option<FlashSlots<F>> {
//!     let mut slots = FlashSlots::new(flash, 0x6_0000, 4096).ok()?;
//!     let mut buf = [0u8; 4096];
//!     if let Some(loaded) = slots.load(&mut buf).ok()? {
//!         let _app_state = client.restore_session(loaded.snapshot).ok()?;
//!     }
//!     Some(slots)
//! }
//!
//! /// In the driver's handler: a save that fails is said with `failed` (nothing that depends
//! /// on it is written, and the client asks again).
//! fn on_event<F: NorFlash>(slots: &mut FlashSlots<F>, event: Event<'_>, app: &[u8], buf: &mut [u8]) {
//!     if let Event::SaveSession(session) = event {
//!         match session.write_snapshot(app, buf) {
//!             Ok(n) if slots.save(&buf[..n]).is_ok() => {}
//!             _ => session.failed(),
//!         }
//!     }
//! }
//! ```

use embedded_storage::nor_flash::NorFlash;

use crate::client::session::crc32_update;

const MAGIC: [u8; 4] = *b"UMQF";
const HEADER: usize = 16;

/// Why the flash could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PersistError<E> {
    /// The flash driver's error.
    Flash(E),
    /// The range or slot size is not a multiple of the erase size, or the write or read size
    /// does not divide the 16-byte header.
    Misaligned,
    /// The snapshot does not fit a slot.
    TooLarge {
        /// The snapshot's length.
        len: usize,
        /// What a slot holds.
        room: usize,
    },
    /// The buffer given to [`FlashSlots::load`] is smaller than the snapshot in flash.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl<E: core::fmt::Debug> core::fmt::Display for PersistError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PersistError::Flash(e) => write!(f, "flash error: {e:?}"),
            PersistError::Misaligned => f.write_str(
                "the flash range must be a multiple of the erase size, and the write and read sizes divide 16",
            ),
            PersistError::TooLarge { len, room } => {
                write!(f, "a {len}-byte snapshot does not fit a {room}-byte slot")
            }
            PersistError::BufferTooSmall { needed } => {
                write!(f, "the snapshot in flash needs a {needed}-byte buffer")
            }
        }
    }
}

/// A snapshot read back by [`FlashSlots::load`].
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Loaded<'b> {
    /// The snapshot's bytes (for [`crate::Client::restore_session`]).
    pub snapshot: &'b [u8],
    /// Its sequence number (one more per save).
    pub seq: u32,
    /// A slot held a save that was cut short (torn): it was ignored.
    pub torn: bool,
}

/// Two alternating snapshot slots in a NOR flash range.
#[derive(Debug)]
pub struct FlashSlots<F> {
    flash: F,
    base: u32,
    slot: u32,
    /// The slot (0 or 1) and sequence number of the newest valid snapshot.
    newest: Option<(u32, u32)>,
}

/// A slot's header, as read.
struct Header {
    seq: u32,
    len: usize,
    crc: u32,
}

impl<F: NorFlash> FlashSlots<F> {
    /// Two slots of `slot_size` bytes from `base` (both multiples of the flash's erase
    /// size). Call [`FlashSlots::load`] before the first save.
    pub fn new(flash: F, base: u32, slot_size: u32) -> Result<Self, PersistError<F::Error>> {
        let erase = u32::try_from(F::ERASE_SIZE).map_err(|_| PersistError::Misaligned)?;
        let aligned = |n: usize| n > 0 && HEADER.is_multiple_of(n);
        if erase == 0
            || !base.is_multiple_of(erase)
            || !slot_size.is_multiple_of(erase)
            || slot_size as usize <= HEADER
            || !aligned(F::WRITE_SIZE)
            || !aligned(F::READ_SIZE)
        {
            return Err(PersistError::Misaligned);
        }
        Ok(FlashSlots {
            flash,
            base,
            slot: slot_size,
            newest: None,
        })
    }

    /// The flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// The largest snapshot a slot holds.
    pub fn room(&self) -> usize {
        self.slot as usize - HEADER
    }

    fn at(&self, slot: u32) -> u32 {
        self.base + slot * self.slot
    }

    fn header(&mut self, slot: u32) -> Result<Option<Header>, PersistError<F::Error>> {
        let mut h = [0u8; HEADER];
        self.flash
            .read(self.at(slot), &mut h)
            .map_err(PersistError::Flash)?;
        let word = |i: usize| {
            let bytes = h.get(i..i + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
            u32::from_le_bytes(bytes.unwrap_or_default())
        };
        if h.get(..4) != Some(&MAGIC[..]) {
            // An erased header over erased data is an empty slot; anything else is a save cut
            // short (its data, or part of its header, written).
            let mut data = [0u8; HEADER];
            self.flash
                .read(self.at(slot) + HEADER as u32, &mut data)
                .map_err(PersistError::Flash)?;
            let erased = h.iter().chain(&data).all(|b| *b == 0xFF);
            return Ok((!erased).then_some(Header {
                seq: 0,
                len: usize::MAX,
                crc: 0,
            }));
        }
        Ok(Some(Header {
            seq: word(4),
            len: word(8) as usize,
            crc: word(12),
        }))
    }

    /// Reads the newest valid snapshot into `buf`; `None` when neither slot holds one.
    pub fn load<'b>(
        &mut self,
        buf: &'b mut [u8],
    ) -> Result<Option<Loaded<'b>>, PersistError<F::Error>> {
        let mut torn = false;
        let mut slots = [(0u32, self.header(0)?), (1, self.header(1)?)];
        // Newest first.
        slots.sort_unstable_by_key(|(_, h)| core::cmp::Reverse(h.as_ref().map_or(0, |h| h.seq)));
        let mut found = None;
        for (slot, header) in slots {
            let Some(h) = header else { continue };
            // A slot that is not valid is always the last save, cut short: the next save
            // overwrites it.
            if h.len > self.room() {
                torn = true;
                continue;
            }
            if found.is_some() {
                continue; // the older valid one
            }
            let read_len = round_up(h.len, F::READ_SIZE);
            if read_len > buf.len() {
                return Err(PersistError::BufferTooSmall { needed: read_len });
            }
            let data = buf.get_mut(..read_len).unwrap_or_default();
            self.flash
                .read(self.at(slot) + HEADER as u32, data)
                .map_err(PersistError::Flash)?;
            if checksum(h.seq, data.get(..h.len).unwrap_or_default()) == h.crc {
                found = Some((slot, h.seq, h.len));
            } else {
                torn = true;
            }
        }
        self.newest = found.map(|(slot, seq, _)| (slot, seq));
        Ok(found.map(|(_, seq, len)| Loaded {
            snapshot: buf.get(..len).unwrap_or_default(),
            seq,
            torn,
        }))
    }

    /// Writes `snapshot` into the slot not holding the newest one: erase, data, then header.
    pub fn save(&mut self, snapshot: &[u8]) -> Result<(), PersistError<F::Error>> {
        if snapshot.len() > self.room() {
            return Err(PersistError::TooLarge {
                len: snapshot.len(),
                room: self.room(),
            });
        }
        let (slot, seq) = match self.newest {
            Some((newest, seq)) => (1 - newest, seq.wrapping_add(1)),
            None => (0, 1),
        };
        let at = self.at(slot);
        // Only the erase blocks the snapshot needs: less wear, less time.
        let used = round_up(HEADER + snapshot.len(), F::ERASE_SIZE) as u32;
        self.flash
            .erase(at, at + used.min(self.slot))
            .map_err(PersistError::Flash)?;
        // The data: whole write units straight from the snapshot, the tail padded.
        let whole = snapshot.len() - snapshot.len() % F::WRITE_SIZE;
        let data_at = at + HEADER as u32;
        let (body, tail) = snapshot.split_at(whole);
        if !body.is_empty() {
            self.flash
                .write(data_at, body)
                .map_err(PersistError::Flash)?;
        }
        if !tail.is_empty() {
            let mut pad = [0xFFu8; HEADER];
            let padded = pad.get_mut(..F::WRITE_SIZE).unwrap_or_default();
            for (d, s) in padded.iter_mut().zip(tail) {
                *d = *s;
            }
            self.flash
                .write(data_at + whole as u32, padded)
                .map_err(PersistError::Flash)?;
        }
        // The header last: it commits the slot.
        let mut h = [0u8; HEADER];
        let len = snapshot.len() as u32;
        for (dst, src) in
            h.chunks_mut(4)
                .zip([u32::from_le_bytes(MAGIC), seq, len, checksum(seq, snapshot)])
        {
            dst.copy_from_slice(&src.to_le_bytes());
        }
        self.flash.write(at, &h).map_err(PersistError::Flash)?;
        self.newest = Some((slot, seq));
        Ok(())
    }
}

/// CRC-32 of the sequence number, the length and the data.
fn checksum(seq: u32, data: &[u8]) -> u32 {
    let crc = crc32_update(!0, &seq.to_le_bytes());
    let crc = crc32_update(crc, &(data.len() as u32).to_le_bytes());
    !crc32_update(crc, data)
}

fn round_up(n: usize, unit: usize) -> usize {
    n.div_ceil(unit.max(1)) * unit.max(1)
}
