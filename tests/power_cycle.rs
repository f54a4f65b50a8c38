//! Sessions across a reset (feature `persistence`), through mosquitto with persistent
//! sessions: a publisher sends 5,000 QoS 1 and 5,000 QoS 2 messages to a subscriber, and each
//! of them "loses power" 50 times at random points — between operations, right after a
//! snapshot, or in the middle of writing one (a torn snapshot) — keeping nothing but its
//! flash (a RAM NOR flash, two snapshot slots). Each restart restores the session and the
//! application's state from flash and goes on. The subscriber must end with every message,
//! no QoS 2 message twice; torn snapshots must be detected and never trusted. Their flash
//! also refuses one save in 20 at random (power on): the client is told
//! (`Session::failed`), sends nothing that depended on it, and the operation that made the
//! save due fails with `SessionNotSaved` — the publisher publishes that message again after
//! reconnecting, and no message is lost without that report.
//!
//! `UMQTT_POWER_SEED` picks the random points (printed); `UMQTT_POWER_TRACE=1` prints every
//! boot and what it restored.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use support::broker::Broker;
use support::flash::{Power, RamFlash};
use umqtt::client::persist::FlashSlots;
use umqtt::{
    Blocking, CallerError, Client, ConnectOptions, Error, Event, QoS, StdClock, TcpTransport,
};

const MESSAGES: u32 = 10_000;
const CUTS: u32 = 50;
const SLOT: u32 = 72 * 1024;
/// The session store: mosquitto sends a reconnecting subscriber its whole queue, and every
/// QoS 2 message waits for its PUBREL in the store.
const STORE: usize = 64 * 1024;
/// One save in this many is refused by the flash.
const REFUSED: u64 = 20;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// True once in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The link of a device that can lose power: every read and write fails once it has.
struct Mortal {
    inner: TcpTransport,
    power: Power,
}

impl embedded_io::ErrorType for Mortal {
    type Error = std::io::Error;
}

fn dead() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "power lost")
}

impl embedded_io::Read for Mortal {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.power.is_dead() {
            return Err(dead());
        }
        self.inner.read(buf)
    }
}

impl embedded_io::Write for Mortal {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.power.is_dead() {
            return Err(dead());
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.power.is_dead() {
            return Err(dead());
        }
        self.inner.flush()
    }
}

/// One device: its flash (which survives), its power, its random cut points.
struct Device {
    power: Power,
    flash: RamFlash,
    slots: Rc<RefCell<FlashSlots<RamFlash>>>,
    rng: Rc<RefCell<Rng>>,
    cuts_left: Rc<Cell<u32>>,
    lives: u32,
    torn: u32,
    /// Saves the flash refused (each one reported to the client).
    refused: Cell<u32>,
    /// Whether the flash refuses saves now and then.
    refusing: Cell<bool>,
}

impl Device {
    fn new(seed: u64) -> Device {
        let power = Power::default();
        let flash = RamFlash::new(2 * SLOT as usize, power.clone());
        Device {
            slots: Rc::new(RefCell::new(
                FlashSlots::new(flash.clone(), 0, SLOT).unwrap(),
            )),
            flash,
            power,
            rng: Rc::new(RefCell::new(Rng(seed | 1))),
            cuts_left: Rc::new(Cell::new(CUTS)),
            lives: 0,
            torn: 0,
            refused: Cell::new(0),
            refusing: Cell::new(true),
        }
    }

    /// Power on: a client with the session and application state from flash.
    fn boot(&mut self, id: &str) -> (Client<Vec<u8>>, Vec<u8>) {
        self.power.restore();
        self.lives += 1;
        let options = ConnectOptions::new(id)
            .unwrap()
            .keep_alive_secs(30)
            .clean_session(false)
            .persist_session(true);
        let mut client =
            Client::new(options, vec![0; 2048], vec![0; 2048], vec![0; STORE]).unwrap();
        let mut buf = vec![0; SLOT as usize];
        let app = match self.slots.borrow_mut().load(&mut buf).unwrap() {
            None => Vec::new(),
            Some(loaded) => {
                self.torn += u32::from(loaded.torn);
                client.restore_session(loaded.snapshot).unwrap().to_vec()
            }
        };
        (client, app)
    }

    /// Saves a snapshot with `app`; now and then the power goes during it or right after.
    fn save(&self, session: umqtt::client::Session<'_>, app: &[u8]) {
        if self.power.is_dead() {
            return;
        }
        let mut buf = vec![0; session.snapshot_len(app.len())];
        let n = session.write_snapshot(app, &mut buf).unwrap();
        let mut rng = self.rng.borrow_mut();
        let mut cut_after = false;
        if self.cuts_left.get() > 0 && rng.one_in(200) {
            self.cuts_left.set(self.cuts_left.get() - 1);
            if rng.one_in(2) {
                self.power.cut_after(rng.below(n + 16)); // torn
            } else {
                cut_after = true;
            }
        }
        let refuse = self.refusing.get() && rng.one_in(REFUSED);
        if refuse {
            self.flash.refuse_next();
        }
        let saved = self.slots.borrow_mut().save(&buf[..n]);
        if saved.is_err() && !self.power.is_dead() {
            assert!(refuse, "save: {saved:?}");
            self.refused.set(self.refused.get() + 1);
            session.failed();
        }
        if cut_after {
            self.power.cut();
        }
    }

    /// Now and then the power goes between operations.
    fn maybe_cut(&self) {
        if self.cuts_left.get() > 0 && self.rng.borrow_mut().one_in(400) {
            self.cuts_left.set(self.cuts_left.get() - 1);
            self.power.cut();
        }
    }

    fn link(&self, addr: std::net::SocketAddr) -> Mortal {
        Mortal {
            inner: TcpTransport::connect(addr).unwrap(),
            power: self.power.clone(),
        }
    }

    /// After `e`: true when it was a save the flash refused (the power is on, the session in
    /// RAM) and the device connected again on a new link — as often as the saves fail.
    fn relinked<H: FnMut(Event<'_>)>(
        &self,
        e: Error<std::io::Error>,
        mqtt: &mut Blocking<Vec<u8>, Mortal, StdClock, H>,
        addr: std::net::SocketAddr,
    ) -> bool {
        let mut e = e;
        loop {
            if self.power.is_dead() || !matches!(e, Error::Caller(CallerError::SessionNotSaved)) {
                assert!(self.power.is_dead(), "{e}");
                return false;
            }
            mqtt.replace_transport(self.link(addr));
            match mqtt.connect() {
                Ok(_) => return true,
                Err(again) => e = again,
            }
        }
    }
}

fn publisher(
    addr: std::net::SocketAddr,
    seed: u64,
    go: mpsc::Receiver<()>,
    finished: Arc<AtomicBool>,
) -> (u32, u32, u32) {
    go.recv().unwrap();
    let device = Rc::new(RefCell::new(Device::new(seed)));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "publisher: timed out");
        let (client, app) = device.borrow_mut().boot("pc-pub");
        // The application's state: the next message to publish. It is counted once publish
        // returned (the message saved in the session); a snapshot taken in between holds the
        // message but not the count: the session's unacknowledged messages say how far it got.
        let saved = app.as_slice().try_into().map_or(0, u32::from_le_bytes);
        let resent = client
            .unacknowledged()
            .map(|m| u32::from_be_bytes(m.payload.try_into().unwrap()) + 1)
            .max();
        let next = Rc::new(Cell::new(saved.max(resent.unwrap_or(0))));
        if std::env::var("UMQTT_POWER_TRACE").is_ok() {
            eprintln!("pub life {} from {:?}", device.borrow().lives, app);
        }
        let (d, n) = (device.clone(), next.clone());
        let handler = move |e: Event<'_>| {
            if let Event::SaveSession(s) = e {
                d.borrow().save(s, &n.get().to_le_bytes());
            }
        };
        let io = device.borrow().link(addr);
        let mut mqtt = Blocking::new(client, io, StdClock::new(), handler);
        let power = device.borrow().power.clone();
        if let Err(e) = mqtt.connect() {
            if !device.borrow().relinked(e, &mut mqtt, addr) {
                continue;
            }
        }
        loop {
            let i = next.get();
            if i >= MESSAGES {
                // All acknowledged: then a marker every 200 ms (the subscriber's wait ends with
                // one; it checks what it has after 10 s of them) until it is done.
                let mut done = mqtt.wait_published();
                while done.is_ok() && !finished.load(Ordering::SeqCst) {
                    done = mqtt
                        .publish("pc/done", "", QoS::AtMostOnce, false)
                        .map(|_| std::thread::sleep(Duration::from_millis(200)));
                }
                let done = done.and_then(|()| mqtt.disconnect());
                match done {
                    Ok(()) => {
                        let d = device.borrow();
                        return (d.lives - 1, d.torn, d.refused.get());
                    }
                    Err(e) => match device.borrow().relinked(e, &mut mqtt, addr) {
                        true => continue,
                        false => break,
                    },
                }
            }
            let (topic, qos) = match i % 2 {
                0 => ("pc/q1", QoS::AtLeastOnce),
                _ => ("pc/q2", QoS::ExactlyOnce),
            };
            match mqtt.publish(topic, i.to_be_bytes(), qos, false) {
                Ok(_) => next.set(i + 1),
                // Not published (its save failed): published again once connected.
                Err(e) => match device.borrow().relinked(e, &mut mqtt, addr) {
                    true => continue,
                    false => break,
                },
            }
            device.borrow().maybe_cut();
            if power.is_dead() {
                break;
            }
        }
        // Power lost: everything but the flash goes (the socket closes with the process).
    }
}

/// What the subscriber has received: one bit per message.
struct Received {
    bits: Vec<u8>,
}

impl Received {
    fn from_app(app: &[u8]) -> Received {
        let mut bits = vec![0; MESSAGES.div_ceil(8) as usize];
        if app.len() == bits.len() {
            bits.copy_from_slice(app);
        }
        Received { bits }
    }
    fn complete(&self) -> bool {
        (0..MESSAGES).all(|i| self.bits[i as usize / 8] & (1 << (i % 8)) != 0)
    }
}

fn subscriber(
    addr: std::net::SocketAddr,
    seed: u64,
    subscribed: mpsc::Sender<()>,
    finished: Arc<AtomicBool>,
) -> (u32, u32, u32, Vec<u32>, u32) {
    let device = Rc::new(RefCell::new(Device::new(seed)));
    let twice: Rc<RefCell<(Vec<u32>, u32)>> = Rc::default();
    let mut first = true;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "subscriber: timed out");
        let (client, app) = device.borrow_mut().boot("pc-sub");
        let got = Rc::new(RefCell::new(Received::from_app(&app)));
        if std::env::var("UMQTT_POWER_TRACE").is_ok() {
            let have = (0..MESSAGES)
                .filter(|i| got.borrow().bits[*i as usize / 8] & (1 << (i % 8)) != 0)
                .count();
            eprintln!("sub life {} with {have}", device.borrow().lives);
        }
        let (d, g, t) = (device.clone(), got.clone(), twice.clone());
        // End markers arrive (the publisher is done); when the last message arrived.
        let markers = Rc::new(Cell::new(false));
        let last = Rc::new(Cell::new(Instant::now()));
        let (end, l) = (markers.clone(), last.clone());
        let handler = move |e: Event<'_>| match e {
            Event::Message(m) if m.topic.as_str() == "pc/done" => end.set(true),
            Event::Message(m) => {
                l.set(Instant::now());
                let i = u32::from_be_bytes(m.payload.try_into().unwrap());
                let mut g = g.borrow_mut();
                let (byte, bit) = (i as usize / 8, 1u8 << (i % 8));
                if g.bits[byte] & bit != 0 {
                    match m.qos() {
                        QoS::ExactlyOnce => t.borrow_mut().0.push(i),
                        _ => t.borrow_mut().1 += 1,
                    }
                }
                g.bits[byte] |= bit;
            }
            Event::SaveSession(s) => d.borrow().save(s, &g.borrow().bits),
            _ => {}
        };
        let io = device.borrow().link(addr);
        let mut mqtt = Blocking::new(client, io, StdClock::new(), handler);
        let power = device.borrow().power.clone();
        if first {
            // The subscription, made once: the broker keeps it in the session. No cuts
            // before it is acknowledged and saved.
            let cuts = device.borrow().cuts_left.replace(0);
            device.borrow().refusing.set(false);
            mqtt.connect().unwrap();
            mqtt.subscribe("pc/#", QoS::ExactlyOnce).unwrap();
            while !matches!(mqtt.next_event().unwrap(), Event::Subscribed { .. }) {}
            mqtt.wait_published().unwrap(); // the SUBACK's removal saved
            device.borrow().cuts_left.set(cuts);
            device.borrow().refusing.set(true);
            subscribed.send(()).unwrap();
            first = false;
        } else if let Err(e) = mqtt.connect() {
            if !device.borrow().relinked(e, &mut mqtt, addr) {
                continue;
            }
        }
        loop {
            // Done, or nothing more for 10 s after the publisher finished.
            let waited = markers.get() && last.get().elapsed() > Duration::from_secs(10);
            if got.borrow().complete() || waited {
                let missing: Vec<u32> = (0..MESSAGES)
                    .filter(|i| got.borrow().bits[*i as usize / 8] & (1 << (i % 8)) == 0)
                    .collect();
                finished.store(true, Ordering::SeqCst);
                if !missing.is_empty() {
                    let c = mqtt.client();
                    eprintln!(
                        "subscriber: state {:?}, session entries {}, lives {}",
                        c.state(),
                        c.inflight(),
                        device.borrow().lives
                    );
                }
                assert!(missing.is_empty(), "never delivered: {missing:?}");
                while let Err(e) = mqtt.disconnect() {
                    assert!(device.borrow().relinked(e, &mut mqtt, addr));
                }
                let d = device.borrow();
                let t = twice.borrow();
                return (d.lives - 1, d.torn, d.refused.get(), t.0.clone(), t.1);
            }
            if let Err(e) = mqtt.wait_msg() {
                if device.borrow().relinked(e, &mut mqtt, addr) {
                    continue;
                }
                break;
            }
            device.borrow().maybe_cut();
            if power.is_dead() {
                break;
            }
        }
    }
}

#[test]
fn five_thousand_qos1_and_qos2_messages_survive_a_hundred_power_cuts() {
    let Some(broker) = Broker::mosquitto(None) else {
        eprintln!("skipped: needs mosquitto (persistent sessions with offline queues)");
        return;
    };
    let seed = std::env::var("UMQTT_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("power cycle: UMQTT_POWER_SEED={seed}");
    let addr = broker.addr();
    let (subscribed, go) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let sub = std::thread::spawn(move || subscriber(addr, seed ^ 0x5EED, subscribed, f));
    let publ = std::thread::spawn(move || publisher(addr, seed, go, finished));
    let (pub_cuts, pub_torn, pub_refused) = publ.join().unwrap();
    let (sub_cuts, sub_torn, sub_refused, qos2_twice, qos1_twice) = sub.join().unwrap();
    eprintln!(
        "power cycle: publisher {pub_cuts} cuts ({pub_torn} torn snapshots detected, \
         {pub_refused} saves refused), subscriber {sub_cuts} cuts ({sub_torn} torn, \
         {sub_refused} refused), QoS 1 duplicates {qos1_twice}"
    );
    assert!(
        qos2_twice.is_empty(),
        "QoS 2 messages delivered twice: {qos2_twice:?}"
    );
    // Every planned cut happened (a cut during the very last save may end no life).
    assert!(
        pub_cuts + sub_cuts >= 2 * CUTS - 2,
        "{pub_cuts} + {sub_cuts} cuts"
    );
    assert!(
        pub_torn + sub_torn > 0,
        "no torn snapshot was made and detected"
    );
    assert!(
        pub_refused > 0 && sub_refused > 0,
        "the flash refused no save: {pub_refused}, {sub_refused}"
    );
}
