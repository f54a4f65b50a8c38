//! Real brokers for the tests: mosquitto started on a free loopback port with a generated
//! config, or — when mosquitto is not installed and `UMQTT_REQUIRE_MOSQUITTO` is not `1` —
//! the in-process Rust broker (rumqttd). Plus `Conn`, a client over real sockets with
//! bounded waits, so a misbehaving broker fails a test instead of hanging it.

use umqtt_testbroker as in_process;

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use std::cell::RefCell;
use std::rc::Rc;

use umqtt::{
    Client, ConnectOptions, Event, Lost, NonBlocking, PacketId, QoS, StdClock, SubackCode,
    TcpTransport,
};

/// True when CI demands mosquitto (a missing install fails instead of falling back).
pub fn mosquitto_required() -> bool {
    std::env::var("UMQTT_REQUIRE_MOSQUITTO").is_ok_and(|v| v == "1")
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

pub enum Broker {
    Mosquitto {
        child: Child,
        addr: SocketAddr,
        dir: PathBuf,
    },
    InProcess {
        addr: SocketAddr,
    },
    /// A broker behind a TLS listener: `Conn::connect_to` verifies it as `name` with `options`.
    Tls {
        inner: Box<Broker>,
        name: String,
        options: umqtt::transport::tls::TlsOptions,
    },
    /// A broker reached over its WebSocket listener at `url` (`inner` also has a TCP one).
    Ws {
        inner: Box<Broker>,
        url: umqtt::transport::url::BrokerUrl,
    },
    /// Another broker program (aedes, amqtt, RabbitMQ), in a process group of its own.
    External {
        name: &'static str,
        child: Child,
        addr: SocketAddr,
        dir: PathBuf,
    },
}

pub(crate) static NEXT: AtomicU32 = AtomicU32::new(0);

/// One start at a time: two brokers probing for a free port at once could pick the same one,
/// and the loser's readiness probe would reach the winner.
pub(crate) static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Broker {
    /// mosquitto, with `auth` as its only user when given; None when it is not installed
    /// (a panic when it is required).
    pub fn mosquitto(auth: Option<(&str, &str)>) -> Option<Broker> {
        Broker::mosquitto_with(auth, 20)
    }

    /// [`Broker::mosquitto`] with `max_inflight_messages` set to `inflight` (its default is
    /// 20). Keep a client's window at or under it: mosquitto 2.0 refuses a QoS 2 message
    /// beyond it and closes the connection; it delivers in order only with 1.
    pub fn mosquitto_with(auth: Option<(&str, &str)>, inflight: u16) -> Option<Broker> {
        Broker::mosquitto_logging(auth, inflight, false)
    }

    /// [`Broker::mosquitto_with`]; with `log_all`, mosquitto logs every packet
    /// (`log_type all`; read it with [`Broker::log`]).
    pub fn mosquitto_logging(
        auth: Option<(&str, &str)>,
        inflight: u16,
        log_all: bool,
    ) -> Option<Broker> {
        Broker::mosquitto_conf_with(|dir| {
            let mut conf = format!("max_inflight_messages {inflight}\n");
            if log_all {
                conf.push_str("log_type all\n");
            }
            match auth {
                None => conf.push_str("allow_anonymous true\n"),
                Some((user, pass)) => {
                    let pw = dir.join("passwd");
                    let status =
                        Command::new(find_program("mosquitto_passwd").expect("mosquitto_passwd"))
                            .arg("-b")
                            .arg("-c")
                            .arg(&pw)
                            .arg(user)
                            .arg(pass)
                            .status()
                            .unwrap();
                    assert!(status.success());
                    conf.push_str(&format!(
                        "allow_anonymous false\npassword_file {}\n",
                        pw.display()
                    ));
                }
            }
            conf
        })
    }

    /// mosquitto with `extra` lines after its loopback listener (TLS files, a password file,
    /// `log_type all`, …); None when it is not installed (a panic when it is required).
    pub fn mosquitto_conf(extra: &str) -> Option<Broker> {
        Broker::mosquitto_conf_with(|_| extra.to_string())
    }

    /// mosquitto on loopback `port` (not a free one picked here) with `extra` lines.
    pub fn mosquitto_at(port: u16, extra: &str) -> Option<Broker> {
        Broker::mosquitto_start(Some(port), |_| extra.to_string())
    }

    /// mosquitto with a WebSocket listener too (`protocol websockets`, loopback only): the
    /// broker and the WebSocket port.
    pub fn mosquitto_ws() -> Option<(Broker, u16)> {
        Broker::mosquitto_ws_conf("")
    }

    /// [`Broker::mosquitto_ws`] with `extra` configuration lines.
    pub fn mosquitto_ws_conf(extra: &str) -> Option<(Broker, u16)> {
        let ws = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Without socket_domain the WebSocket listener binds every interface.
        let extra = format!(
            "allow_anonymous true\n{extra}listener {ws} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n"
        );
        let broker = Broker::mosquitto_conf(&extra)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", ws)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the WebSocket listener did not open"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some((broker, ws))
    }

    /// Starts mosquitto on a free loopback port; `extra(dir)` gives the configuration lines
    /// after the listener and the common settings (`dir` is the broker's own folder).
    fn mosquitto_conf_with(extra: impl Fn(&Path) -> String) -> Option<Broker> {
        Broker::mosquitto_start(None, extra)
    }

    fn mosquitto_start(at: Option<u16>, extra: impl Fn(&Path) -> String) -> Option<Broker> {
        // UMQTT_NO_MOSQUITTO=1 exercises the fallback on a machine that has mosquitto.
        let hidden = std::env::var("UMQTT_NO_MOSQUITTO").is_ok_and(|v| v == "1");
        let Some(bin) = find_program("mosquitto").filter(|_| !hidden) else {
            assert!(
                !mosquitto_required(),
                "UMQTT_REQUIRE_MOSQUITTO=1 but mosquitto is not installed"
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!(
            "umqtt-mosq-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let _starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let extra = extra(&dir);
        for _ in 0..5 {
            let port = at.unwrap_or_else(|| {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            });
            // Note: mosquitto documents in-order delivery only with max_inflight_messages 1
            // (see tests/fault_injection.rs for what happens with more).
            let conf = format!(
                "listener {port} 127.0.0.1\nuser root\npersistence false\nmax_queued_messages 100000\nset_tcp_nodelay true\nlog_dest stderr\n{extra}"
            );
            let conf_path = dir.join("mosquitto.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
            let mut child = Command::new(&bin)
                .arg("-c")
                .arg(&conf_path)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                let exited = child.try_wait().unwrap().is_some();
                if !exited
                    && TcpStream::connect(addr).is_ok()
                    && child.try_wait().unwrap().is_none()
                {
                    return Some(Broker::Mosquitto { child, addr, dir });
                }
                if exited {
                    break; // port taken in the meantime: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("mosquitto did not start; see {}", dir.display());
    }

    /// mosquitto, or the in-process broker when mosquitto is not installed.
    pub fn any(auth: Option<(&str, &str)>) -> Broker {
        Broker::mosquitto(auth).unwrap_or_else(|| {
            eprintln!("mosquitto not installed: using the in-process broker");
            let auth = auth.map(|(u, p)| HashMap::from([(u.to_string(), p.to_string())]));
            Broker::InProcess {
                addr: in_process::start_with_auth(auth),
            }
        })
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Broker::Mosquitto { addr, .. }
            | Broker::InProcess { addr }
            | Broker::External { addr, .. } => *addr,
            Broker::Tls { inner, .. } | Broker::Ws { inner, .. } => inner.addr(),
        }
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the mosquitto process: a broker that holds
    /// its answers. Panics for the in-process broker.
    pub fn hold(&self, held: bool) {
        let Broker::Mosquitto { child, .. } = self else {
            panic!("only a mosquitto broker can be held")
        };
        let signal = if held { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn is_mosquitto(&self) -> bool {
        matches!(self, Broker::Mosquitto { .. })
    }

    /// mosquitto's log so far (None for the in-process broker).
    pub fn log(&self) -> Option<String> {
        match self {
            Broker::Mosquitto { dir, .. } => {
                std::fs::read_to_string(dir.join("mosquitto.log")).ok()
            }
            Broker::Tls { inner, .. } | Broker::Ws { inner, .. } => inner.log(),
            Broker::InProcess { .. } | Broker::External { .. } => None,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let (child, dir) = match self {
            Broker::Mosquitto { child, dir, .. } => (child, dir),
            Broker::External { child, dir, .. } => {
                // The whole group: a start script's children (the Erlang VM) too.
                let _ = Command::new("kill")
                    .args(["-KILL", "--"])
                    .arg(format!("-{}", child.id()))
                    .status();
                (child, dir)
            }
            Broker::InProcess { .. } | Broker::Tls { .. } | Broker::Ws { .. } => return,
        };
        let _ = child.kill();
        let _ = child.wait();
        if std::env::var("UMQTT_KEEP_BROKER_LOGS").is_err() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What an event was, without its borrowed data (which `Conn` records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Connected(bool),
    Message,
    Published(u16),
    Subscribed,
    Unsubscribed,
    Lost,
    Chunk,
    SaveSession,
    Disconnected,
}

/// A received message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

pub type Err = umqtt::Error<std::io::Error>;

/// What a connection saw: events recorded by `Conn::step` and by the driver's handler (the
/// events that arrived while an operation waited).
#[derive(Debug, Default)]
pub struct Record {
    pub messages: VecDeque<Msg>,
    pub published: Vec<u16>,
    pub lost: Vec<u16>,
    pub subacks: VecDeque<Vec<SubackCode>>,
    /// Pieces of streamed messages: topic, offset, total, bytes.
    pub chunks: VecDeque<(String, usize, usize, Vec<u8>)>,
}

impl Record {
    fn record(&mut self, e: Event<'_>) -> Seen {
        match e {
            Event::Connected { session_present } => Seen::Connected(session_present),
            Event::Message(m) => {
                self.messages.push_back(Msg {
                    topic: m.topic.as_str().into(),
                    payload: m.payload.to_vec(),
                    qos: m.qos(),
                    retain: m.retain,
                });
                Seen::Message
            }
            Event::Published { pid, .. } => {
                self.published.push(pid.get());
                Seen::Published(pid.get())
            }
            Event::Subscribed { codes, .. } => {
                self.subacks.push_back(codes.iter().collect());
                Seen::Subscribed
            }
            Event::Unsubscribed { .. } => Seen::Unsubscribed,
            Event::Chunk(c) => {
                let chunk = (c.topic.as_str().into(), c.offset, c.total, c.data.to_vec());
                self.chunks.push_back(chunk);
                Seen::Chunk
            }
            Event::Lost(Lost::Message { pid, .. } | Lost::Released { pid }) => {
                self.lost.push(pid.get());
                Seen::Lost
            }
            Event::Lost(_) => Seen::Lost,
            Event::Disconnected => Seen::Disconnected,
            Event::SaveSession(_) => Seen::SaveSession,
        }
    }
}

type Handler = Box<dyn FnMut(Event<'_>)>;

/// A test client's socket: TCP, or TLS over it.
pub enum Link {
    Tcp(TcpTransport),
    Ws(Box<umqtt::transport::websocket::WsTransport>),
    Tls(Box<umqtt::transport::tls::TlsTransport>),
}

impl embedded_io::ErrorType for Link {
    type Error = std::io::Error;
}

impl embedded_io::Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Link::Tcp(io) => io.read(buf),
            Link::Tls(io) => io.read(buf),
            Link::Ws(io) => io.read(buf),
        }
    }
}

impl embedded_io::Write for Link {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Link::Tcp(io) => io.write(buf),
            Link::Tls(io) => io.write(buf),
            Link::Ws(io) => io.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Link::Tcp(io) => io.flush(),
            Link::Tls(io) => io.flush(),
            Link::Ws(io) => io.flush(),
        }
    }
}

impl embedded_io::ReadReady for Link {
    fn read_ready(&mut self) -> std::io::Result<bool> {
        match self {
            Link::Tcp(io) => io.read_ready(),
            Link::Tls(io) => io.read_ready(),
            Link::Ws(io) => io.read_ready(),
        }
    }
}

impl embedded_io::WriteReady for Link {
    fn write_ready(&mut self) -> std::io::Result<bool> {
        match self {
            Link::Tcp(io) => io.write_ready(),
            Link::Tls(io) => io.write_ready(),
            Link::Ws(io) => io.write_ready(),
        }
    }
}

/// A client over a real socket with bounded waits.
pub struct Conn {
    pub d: NonBlocking<Vec<u8>, Link, StdClock, Handler>,
    pub rec: Rc<RefCell<Record>>,
}

pub const WAIT: Duration = Duration::from_secs(15);

impl Conn {
    /// Connects with `options`; buffers of `buf` bytes each (the store twice that).
    pub fn connect(
        addr: SocketAddr,
        options: ConnectOptions<'_>,
        buf: usize,
    ) -> Result<(Conn, bool), Err> {
        let io = TcpTransport::connect(addr).map_err(umqtt::Error::Io)?;
        Conn::over(Link::Tcp(io), options, buf)
    }

    /// [`Conn::connect`] to `b`, over TLS when it has a TLS listener, over WebSocket when
    /// it is reached that way.
    pub fn connect_to(
        b: &Broker,
        options: ConnectOptions<'_>,
        buf: usize,
    ) -> Result<(Conn, bool), Err> {
        match b {
            Broker::Tls {
                inner,
                name,
                options: tls,
            } => {
                let io = umqtt::transport::tls::TlsTransport::connect(inner.addr(), name, tls)
                    .map_err(umqtt::Error::Io)?;
                Conn::over(Link::Tls(Box::new(io)), options, buf)
            }
            Broker::Ws { url, .. } => {
                let io = umqtt::transport::websocket::WsTransport::connect(url, None, buf)
                    .map_err(umqtt::Error::Io)?;
                Conn::over(Link::Ws(Box::new(io)), options, buf)
            }
            b => Conn::connect(b.addr(), options, buf),
        }
    }

    /// Connects over `io`, already open.
    pub fn over(io: Link, options: ConnectOptions<'_>, buf: usize) -> Result<(Conn, bool), Err> {
        let client = Client::new(options, vec![0; buf], vec![0; buf], vec![0; buf * 2 + 4096]);
        let rec = Rc::new(RefCell::new(Record::default()));
        let handler_rec = rec.clone();
        let handler: Handler = Box::new(move |e: Event<'_>| {
            handler_rec.borrow_mut().record(e);
        });
        let mut c = Conn {
            d: NonBlocking::new(client.unwrap(), io, StdClock::new(), handler),
            rec,
        };
        let deadline = Instant::now() + WAIT;
        let sp = loop {
            match c.d.connect() {
                Ok(sp) => break sp,
                Err(nb::Error::WouldBlock) => {
                    assert!(Instant::now() < deadline, "timed out waiting for CONNACK");
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err(nb::Error::Other(e)) => return Err(e),
            }
        };
        Ok((c, sp))
    }

    /// One poll: records the event and says what it was (None: nothing yet).
    pub fn step(&mut self) -> Result<Option<Seen>, Err> {
        match self.d.next_event() {
            Ok(e) => Ok(Some(self.rec.borrow_mut().record(e))),
            Err(nb::Error::WouldBlock) => Ok(None),
            Err(nb::Error::Other(e)) => Err(e),
        }
    }

    pub fn published(&self) -> Vec<u16> {
        self.rec.borrow().published.clone()
    }

    pub fn lost(&self) -> Vec<u16> {
        self.rec.borrow().lost.clone()
    }

    /// Polls until `done` says so (after recording the event), or the wait ends (panic).
    pub fn until(&mut self, mut done: impl FnMut(&mut Self, Seen) -> bool) -> Result<(), Err> {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the broker"
            );
            match self.step()? {
                Some(seen) if done(self, seen) => return Ok(()),
                Some(_) => {}
                None => std::thread::sleep(Duration::from_micros(500)),
            }
        }
    }

    /// `nb::block!` with a deadline.
    fn block<R>(&mut self, mut op: impl FnMut(&mut Self) -> nb::Result<R, Err>) -> Result<R, Err> {
        let deadline = Instant::now() + WAIT;
        loop {
            match op(self) {
                Ok(r) => return Ok(r),
                Err(nb::Error::WouldBlock) => {
                    assert!(Instant::now() < deadline, "operation stayed busy");
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(nb::Error::Other(e)) => return Err(e),
            }
        }
    }

    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<Vec<SubackCode>, Err> {
        let before = self.rec.borrow().subacks.len();
        self.block(|c| c.d.subscribe(filter, qos))?;
        self.until(|c, _| c.rec.borrow().subacks.len() > before)?;
        Ok(self.rec.borrow_mut().subacks.pop_back().unwrap())
    }

    /// Publishes; for QoS 1/2 waits for the completion. Returns the packet id.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, Err> {
        let pid = self.queue(topic, payload, qos, retain)?;
        if let Some(p) = pid {
            self.until(|c, _| c.rec.borrow().published.contains(&p.get()))?;
        } else {
            self.flush()?;
        }
        Ok(pid)
    }

    /// Queues a publish without waiting for its completion.
    pub fn queue(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, Err> {
        self.block(|c| c.d.publish(topic, payload, qos, retain))
    }

    /// One poll; records the event.
    pub fn poll_once(&mut self) -> Result<bool, Err> {
        let deadline = Instant::now() + Duration::from_millis(5);
        while Instant::now() < deadline {
            if self.step()?.is_some() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(false)
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<(), Err> {
        let deadline = Instant::now() + WAIT;
        while self.d.client().wants_write() {
            assert!(Instant::now() < deadline);
            self.poll_once()?;
        }
        Ok(())
    }

    /// The next message within `wait`, or None.
    pub fn recv(&mut self, wait: Duration) -> Result<Option<Msg>, Err> {
        let deadline = Instant::now() + wait;
        while self.rec.borrow().messages.is_empty() && Instant::now() < deadline {
            if self.step()?.is_none() {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        Ok(self.rec.borrow_mut().messages.pop_front())
    }

    pub fn disconnect(mut self) -> Result<(), Err> {
        self.block(|c| c.d.disconnect())
    }
}
