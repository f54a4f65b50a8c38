//! The core's timers: the CONNACK and PINGRESP timeouts, and PINGREQ when nothing was sent
//! for nearly the keep-alive period (MQTT-3.1.2-23) — in every state that may still send.

use super::*;

impl<B: Buffer> Core<B> {
    pub(super) fn next_deadline(&self) -> Option<u64> {
        match self.state {
            State::Connecting => Some(self.connack_deadline),
            State::Connected => self.keep_alive_deadline(),
            State::Disconnecting => {
                let drain = self.drain_until?;
                Some(self.keep_alive_deadline().map_or(drain, |k| k.min(drain)))
            }
            State::Closed => None,
        }
    }

    /// When the next PINGREQ is due, or its PINGRESP overdue: keep-alive runs in every state
    /// that may still send (connected, and a disconnect draining).
    pub(super) fn keep_alive_deadline(&self) -> Option<u64> {
        let timeout = u64::from(self.settings.response_timeout_ms);
        match (self.settings.keep_alive_secs, self.ping_sent) {
            (0, _) => None,
            (_, Some(sent)) => Some(sent.saturating_add(timeout)),
            (secs, None) => {
                let interval = u64::from(secs) * 1000;
                let margin = (interval / 4).min(KEEP_ALIVE_MARGIN_MS);
                Some(self.last_sent.saturating_add(interval - margin))
            }
        }
    }

    /// Runs the timers: CONNACK and PINGRESP timeouts, and PINGREQ when nothing was sent for
    /// nearly the keep-alive period ([`KEEP_ALIVE_MARGIN_MS`], MQTT-3.1.2-23). True when a
    /// PINGREQ was queued. A PINGREQ that does not fit tx (the link took nothing for the
    /// whole period) is queued as soon as it fits, and its answer timed from when it was due:
    /// a link that takes no bytes is declared dead like one that answers none.
    pub(super) fn timers(&mut self, now: u64) -> Result<bool, Error> {
        let deadline = match self.state {
            State::Connecting if now >= self.connack_deadline => {
                return Err(LinkError::ConnackTimeout.into());
            }
            State::Connected => self.keep_alive_deadline(),
            State::Disconnecting if self.drain_until.is_some() => self.keep_alive_deadline(),
            _ => return Ok(false), // the disconnect deadline is checked by `advance`
        };
        if self.ping_unqueued && self.tx.push_packet(&Packet::Pingreq)? {
            self.ping_unqueued = false;
            self.ping_sent = Some(now); // its answer gets its full time from now
            return Ok(true);
        }
        match deadline {
            Some(deadline) if now >= deadline => {}
            _ => return Ok(false),
        }
        if self.ping_sent.is_some() {
            return Err(LinkError::PingTimeout.into());
        }
        self.ping_sent = Some(now);
        let queued = self.tx.push_packet(&Packet::Pingreq)?;
        self.ping_unqueued = !queued;
        if queued {
            debug!("PINGREQ queued (keep-alive)");
        }
        Ok(queued)
    }
}
