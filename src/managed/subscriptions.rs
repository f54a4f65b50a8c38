//! The subscriptions a reconnecting client restores (feature `std`): the tokio event loop and
//! the std client keep their book here, so the rule is written once. After a reconnect whose
//! session the broker did not keep, every subscription is sent again; after one it kept, only
//! the (un)subscribes it never answered. The `Lost` the core reports for a request sent again
//! is not news to the user.

use std::string::String;
use std::vec::Vec;

use crate::client::Lost;
use crate::{Event, PacketId, QoS};

#[cfg(feature = "tokio")]
use super::owned::OwnedEvent;

/// Where a request stands on the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Not sent on this connection yet (to send after the reconnect).
    No,
    /// Sent with this id, not answered yet.
    Awaiting(PacketId),
    /// Answered.
    Answered,
}

/// A request to send again after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resend {
    /// SUBSCRIBE this filter at this QoS.
    Subscribe(String, QoS),
    /// UNSUBSCRIBE this filter.
    Unsubscribe(String),
}

/// What an event means to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Subscribed(PacketId),
    Unsubscribed(PacketId),
    /// A SUBSCRIBE or UNSUBSCRIBE never answered.
    Lost(PacketId),
    Other,
}

impl Answer {
    /// The meaning of a borrowed event.
    pub(crate) fn of(event: &Event<'_>) -> Self {
        match event {
            Event::Subscribed { pid, .. } => Answer::Subscribed(*pid),
            Event::Unsubscribed { pid } => Answer::Unsubscribed(*pid),
            Event::Lost(Lost::Subscribe { pid } | Lost::Unsubscribe { pid }) => Answer::Lost(*pid),
            _ => Answer::Other,
        }
    }

    /// The meaning of an owned event.
    #[cfg(feature = "tokio")]
    pub(crate) fn of_owned(event: &OwnedEvent) -> Self {
        match event {
            OwnedEvent::Subscribed { pid, .. } => Answer::Subscribed(*pid),
            OwnedEvent::Unsubscribed { pid } => Answer::Unsubscribed(*pid),
            OwnedEvent::Lost { pid, message: None } => Answer::Lost(*pid),
            _ => Answer::Other,
        }
    }
}

/// The subscriptions made, and the unsubscribes not answered yet.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    active: Vec<(String, QoS, Sent)>,
    unsubscribing: Vec<(String, Sent)>,
    /// Ids of requests sent again after a reconnect: their `Lost` is not news.
    resent: Vec<PacketId>,
}

impl Subscriptions {
    /// A SUBSCRIBE for `filter` went out with id `pid` (replacing an older one for it).
    pub(crate) fn subscribing(&mut self, filter: String, qos: QoS, pid: PacketId) {
        self.active.retain(|(f, ..)| *f != filter);
        self.unsubscribing.retain(|(f, _)| *f != filter);
        self.active.push((filter, qos, Sent::Awaiting(pid)));
    }

    /// An UNSUBSCRIBE for `filter` went out with id `pid`: it is not restored any more.
    pub(crate) fn unsubscribing(&mut self, filter: String, pid: PacketId) {
        self.active.retain(|(f, ..)| *f != filter);
        self.unsubscribing.retain(|(f, _)| *f != filter);
        self.unsubscribing.push((filter, Sent::Awaiting(pid)));
    }

    /// Records an event; false when it is not news to the user (the loss of a request that
    /// was sent again).
    pub(crate) fn answered(&mut self, answer: Answer) -> bool {
        match answer {
            Answer::Subscribed(pid) => {
                for (_, _, sent) in &mut self.active {
                    if *sent == Sent::Awaiting(pid) {
                        *sent = Sent::Answered;
                    }
                }
            }
            Answer::Unsubscribed(pid) => self
                .unsubscribing
                .retain(|(_, sent)| *sent != Sent::Awaiting(pid)),
            Answer::Lost(pid) => {
                if let Some(i) = self.resent.iter().position(|p| *p == pid) {
                    self.resent.swap_remove(i);
                    return false;
                }
            }
            Answer::Other => {}
        }
        true
    }

    /// After a reconnect: the requests to send again, in order (report each one sent with
    /// [`Self::subscribing`] / [`Self::unsubscribing`]). A request the link fails before is
    /// returned again after the next reconnect, whatever that session holds.
    pub(crate) fn after_reconnect(&mut self, resumed: bool) -> Vec<Resend> {
        let mut resend = Vec::new();
        for (filter, qos, sent) in &mut self.active {
            if let Sent::Awaiting(pid) = *sent {
                self.resent.push(pid);
            }
            if !resumed || *sent != Sent::Answered {
                *sent = Sent::No;
                resend.push(Resend::Subscribe(filter.clone(), *qos));
            }
        }
        for (_, sent) in &self.unsubscribing {
            if let Sent::Awaiting(pid) = *sent {
                self.resent.push(pid);
            }
        }
        if resumed {
            for (filter, sent) in &mut self.unsubscribing {
                *sent = Sent::No;
                resend.push(Resend::Unsubscribe(filter.clone()));
            }
        } else {
            // A new session has no subscription to remove.
            self.unsubscribing.clear();
        }
        resend
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn pid(n: u16) -> PacketId {
        PacketId(core::num::NonZeroU16::new(n).unwrap_or(core::num::NonZeroU16::MIN))
    }

    #[test]
    fn a_kept_session_resends_only_what_was_not_answered() {
        let mut book = Subscriptions::default();
        book.subscribing("a".to_string(), QoS::AtLeastOnce, pid(1));
        book.subscribing("b".to_string(), QoS::AtMostOnce, pid(2));
        assert!(book.answered(Answer::Subscribed(pid(1))));
        let resend = book.after_reconnect(true);
        assert_eq!(resend, [Resend::Subscribe("b".into(), QoS::AtMostOnce)]);
        // The core then reports the old SUBSCRIBE lost: not news, it was sent again.
        assert!(!book.answered(Answer::Lost(pid(2))));
        assert!(book.answered(Answer::Lost(pid(9))));
    }

    #[test]
    fn a_new_session_resends_everything_and_forgets_unsubscribes() {
        let mut book = Subscriptions::default();
        book.subscribing("a".to_string(), QoS::AtLeastOnce, pid(1));
        book.answered(Answer::Subscribed(pid(1)));
        book.subscribing("b".to_string(), QoS::ExactlyOnce, pid(2));
        book.unsubscribing("b".to_string(), pid(3));
        let resend = book.after_reconnect(false);
        assert_eq!(resend, [Resend::Subscribe("a".into(), QoS::AtLeastOnce)]);
        // "b" was being unsubscribed: not restored, and nothing to unsubscribe next time.
        assert_eq!(book.after_reconnect(false).len(), 1);
    }

    #[test]
    fn a_resend_cut_short_is_resent_even_into_a_kept_session() {
        let mut book = Subscriptions::default();
        book.subscribing("a".to_string(), QoS::AtLeastOnce, pid(1));
        book.answered(Answer::Subscribed(pid(1)));
        assert_eq!(book.after_reconnect(false).len(), 1);
        // The link failed before "a" was sent again; the next broker kept that empty session.
        assert_eq!(
            book.after_reconnect(true),
            [Resend::Subscribe("a".into(), QoS::AtLeastOnce)]
        );
    }

    #[test]
    fn unanswered_unsubscribes_are_resent_into_a_kept_session() {
        let mut book = Subscriptions::default();
        book.subscribing("a".to_string(), QoS::AtLeastOnce, pid(1));
        book.unsubscribing("a".to_string(), pid(2));
        assert_eq!(
            book.after_reconnect(true),
            [Resend::Unsubscribe("a".into())]
        );
        book.unsubscribing("a".to_string(), pid(3));
        assert!(book.answered(Answer::Unsubscribed(pid(3))));
        assert!(book.after_reconnect(true).is_empty());
    }
}
