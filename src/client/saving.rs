//! Sessions across a reset (feature `persistence`): when a snapshot is due, and the way back
//! when the application could not save one.

use super::*;

impl<B: Buffer> Core<B> {
    /// A session snapshot is due: the store changed since the last one, and a connection is
    /// (being) made.
    #[cfg(feature = "persistence")]
    pub(super) fn save_due(&self) -> bool {
        let changes = self.store.changes();
        let handed_out = matches!(self.ready, Some(Ready::SaveSession(v)) if v == changes);
        let due = (changes != self.saved && !handed_out) || self.save_failure.reported();
        self.settings.persist && self.state != State::Closed && due
    }

    /// The application could not save the snapshot handed out last: nothing that depends on
    /// it may go out. Closes the connection and drops from the session what was added since
    /// the last good save and never sent (nothing is written before its save): our
    /// messages and (un)subscribes — their callers hear [`CallerError::SessionNotSaved`]. The
    /// broker's QoS 2 ids and PUBRELs due stay (the message was handed out; PUBREL is owed).
    /// The save is still due (the count is not moved): the next connection asks again.
    #[cfg(feature = "persistence")]
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
        self.save_error = true;
    }
}
