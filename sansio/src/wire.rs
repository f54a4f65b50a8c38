//! A test's side of the wire: what the client sends, what the broker answers, and the events
//! it produced, owned.

use umqtt::packet::{
    Connack, ConnectReturnCode, Packet, PacketId, Publish, QoS, QosPid, SubackCode, SubackCodes,
};
use umqtt::topic::TopicName;
use umqtt::{Client, Error, Event};

/// What an [`Event`] said, without borrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Connected(bool),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        dup: bool,
    },
    Published(u16, QoS),
    Subscribed(u16, Vec<SubackCode>),
    Unsubscribed(u16),
    Lost,
    Disconnected,
    Other,
}

impl From<Event<'_>> for Ev {
    fn from(e: Event<'_>) -> Self {
        match e {
            Event::Connected { session_present } => Ev::Connected(session_present),
            Event::Message(m) => Ev::Message {
                topic: m.topic.as_str().into(),
                payload: m.payload.to_vec(),
                qos: m.qos(),
                dup: m.dup,
            },
            Event::Published { pid, qos } => Ev::Published(pid.get(), qos),
            Event::Subscribed { pid, codes } => Ev::Subscribed(pid.get(), codes.iter().collect()),
            Event::Unsubscribed { pid } => Ev::Unsubscribed(pid.get()),
            Event::Lost(_) => Ev::Lost,
            Event::Disconnected => Ev::Disconnected,
            _ => Ev::Other,
        }
    }
}

/// Everything the client has to send now, as if the transport took it all at `now`.
pub fn sent(client: &mut Client<Vec<u8>>, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let pending = client.poll_transmit();
        if pending.is_empty() {
            return out;
        }
        let n = pending.len();
        out.extend_from_slice(pending);
        client.transmitted(n, now);
    }
}

/// Feeds the broker's `bytes` (as many reads as rx needs) and polls at `now` after each read,
/// collecting the events; the first error is returned.
pub fn feed(client: &mut Client<Vec<u8>>, mut bytes: &[u8], now: u64) -> Result<Vec<Ev>, Error> {
    let mut events = Vec::new();
    loop {
        while let Some(e) = client.poll(now)? {
            events.push(Ev::from(e));
        }
        if bytes.is_empty() {
            return Ok(events);
        }
        let space = client.rx_space();
        let n = space.len().min(bytes.len());
        if n == 0 {
            return Ok(events); // rx full and nothing processed: the caller sees what is left
        }
        space[..n].copy_from_slice(&bytes[..n]);
        client.received(n);
        bytes = &bytes[n..];
    }
}

/// Polls at `now` without new bytes.
pub fn tick(client: &mut Client<Vec<u8>>, now: u64) -> Result<Vec<Ev>, Error> {
    feed(client, &[], now)
}

pub fn enc(packet: &Packet<'_>) -> Vec<u8> {
    let mut buf = vec![0; packet.encoded_len()];
    let n = packet.encode(&mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

pub fn connack(session_present: bool) -> Vec<u8> {
    enc(&Packet::Connack(Connack {
        session_present,
        code: ConnectReturnCode::Accepted,
    }))
}

pub fn publish(topic: &str, payload: &[u8], qos: QosPid, dup: bool) -> Vec<u8> {
    enc(&Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        payload,
    }))
}

pub fn suback(n: u16, codes: &[SubackCode]) -> Vec<u8> {
    enc(&Packet::Suback(umqtt::packet::Suback {
        pid: pid(n),
        codes: SubackCodes::new(codes).unwrap(),
    }))
}
