//! Sessions across a reset (feature `persistence`): when a snapshot is due, and the way back
//! when the application could not save one.

use super::*;

/// The core's snapshot state (feature `persistence`).
#[derive(Debug, Default)]
pub(super) struct Saving {
    /// The store's change count at the last snapshot saved.
    pub(super) saved: u32,
    /// [`Session::failed`]'s word.
    pub(super) failure: SaveFailure,
    /// A save failed: the next [`Client::advance`] or [`Client::connect`] says so.
    pub(super) error: bool,
}

/// Which client and options a session snapshot belongs to: CRC-32 of the store's prefix (the
/// CONNECT and resubscribe SUBSCRIBE) without the password. The password is the CONNECT's
/// last field: the identity leaves it out, and the fixed header (its Remaining Length counts
/// the password's length).
pub(super) fn identity<B: Buffer>(
    store: &Store<B>,
    connect_len: usize,
    login: Option<crate::packet::Login<'_>>,
) -> u32 {
    let password = login.and_then(|l| l.password);
    let secret = password.map_or(0, |p| 2 + p.as_bytes().len());
    let whole = store.whole_prefix();
    let length_bytes = whole.iter().skip(1).take(4).take_while(|b| *b & 0x80 != 0);
    let head = 2 + length_bytes.count();
    let before = whole.get(head..connect_len.saturating_sub(secret));
    let after = whole.get(connect_len..);
    let crc = session::crc32_update(!0, before.unwrap_or_default());
    !session::crc32_update(crc, after.unwrap_or_default())
}

impl<B: Buffer> Core<B> {
    /// A session snapshot is due: the store changed since the last one, and a connection is
    /// (being) made.
    pub(super) fn save_due(&self) -> bool {
        let changes = self.store.changes();
        let handed_out = matches!(self.ready, Some(Ready::SaveSession(v)) if v == changes);
        let due = (changes != self.saving.saved && !handed_out) || self.saving.failure.reported();
        self.settings.persist && self.state != State::Closed && due
    }

    /// The application could not save the snapshot handed out last: nothing that depends on
    /// it may go out. Closes the connection and drops from the session what was added since
    /// the last good save and never sent (nothing is written before its save): our
    /// messages and (un)subscribes — their callers hear [`CallerError::SessionNotSaved`]. The
    /// broker's QoS 2 ids and PUBRELs due stay (the message was handed out; PUBREL is owed).
    /// The save is still due (the count is not moved): the next connection asks again.
    pub(super) fn save_failed(&mut self) {
        warn!("the session could not be saved: closing the connection");
        self.close();
        let mut subscribe_dropped = false;
        self.store.retain(|e| {
            let ours = matches!(
                e.kind,
                Kind::AwaitPuback | Kind::AwaitPubrec | Kind::AwaitSuback | Kind::AwaitUnsuback
            );
            let drop = ours && e.flags & UNSAVED != 0;
            subscribe_dropped |= drop && e.kind == Kind::AwaitSuback;
            !drop
        });
        // It may have been the resubscribe SUBSCRIBE, which no caller would do again: owed.
        self.resubscribe_owed |= subscribe_dropped && self.settings.resubscribe_len > 0;
        self.saving.error = true;
    }
}

impl<B: Buffer> Client<B> {
    /// Puts back a session saved from [`Event::SaveSession`] (feature `persistence`), before
    /// `connect`: the client must have been created with the same options. Returns the
    /// application's bytes saved with it. A torn, damaged, foreign or other-version snapshot
    /// is refused with the reason, and the client is left as it was (an empty session).
    pub fn restore_session<'s>(&mut self, snapshot: &'s [u8]) -> Result<&'s [u8], SnapshotError> {
        self.settle();
        let core = &mut self.core;
        if core.state != State::Closed {
            return Err(SnapshotError::InUse);
        }
        let parsed = session::parse(snapshot, core.settings.identity, core.tx.capacity())?;
        if !core.store.restore(parsed.entries) {
            return Err(SnapshotError::Corrupt);
        }
        core.store.clear_flags(UNSAVED); // what flash holds is saved
        core.next_pid = parsed.next_pid;
        core.free_pids = 0; // the restored entries hold ids: count again
        core.saving.saved = core.store.changes();
        Ok(parsed.app)
    }

    /// True while a session snapshot is due ([`Event::SaveSession`] comes next; nothing is
    /// written before it).
    pub fn save_due(&self) -> bool {
        self.core.save_due()
    }
}
