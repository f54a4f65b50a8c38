//! A mosquitto_pub / mosquitto_sub work-alike on umqtt.
//!
//! ```text
//! cargo run --example umqtt -- pub -t TOPIC (-m MSG | -f FILE | -l | -n) [options]
//! cargo run --example umqtt -- sub -t FILTER [-t FILTER…] [-v] [-C COUNT] [-N] [options]
//! options: -L URL (mqtt://, mqtts://, ws://HOST:PORT/PATH, wss://; repeat it for brokers to
//!          try in order) or -h HOST (localhost) -p PORT (1883; 8883 with TLS)
//!          -q QOS -r -i ID -u USER -P PASSWORD -k KEEPALIVE -c (no clean session)
//!          --will-topic T --will-payload P --will-qos Q --will-retain
//!          TLS (mqtts:// and wss://, or -h/-p): --cafile FILE --cert FILE --key FILE --insecure
//! ```
//! Exits non-zero with a message on bad arguments, an unreachable broker or a refusal.
//! `pub -f` streams the file from disk (`publish_from`) and `sub` prints a message larger
//! than its 64 KiB buffers piece by piece: either way, constant memory whatever the size.
//!
//! `sub` acknowledges only what it prints. With `-C COUNT` it prints COUNT messages, waits for
//! the broker's answer to its SUBSCRIBE if it has not come yet, and disconnects: a message
//! past the count is never acknowledged — not even one that arrived in the same TCP read as
//! the last one printed, or while the disconnect completes the QoS 2 exchanges of the
//! messages printed — so the broker keeps it for a persistent session (`-c`) or it was never
//! delivered. `-C 0` subscribes and leaves, taking nothing. A filter the broker refuses
//! (SUBACK 0x80) is an error even if others are granted (mosquitto_sub fails only when all
//! are): `sub` names each refused filter, disconnects and exits 1.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::rc::Rc;

use umqtt::Error;
use umqtt::topic::TopicFilter;
use umqtt::transport::link::{LinkOptions, StdLink};
use umqtt::transport::tls::TlsOptions;
use umqtt::transport::url::BrokerUrl;
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock, SubackCode, Subscription};

#[derive(Default)]
struct Opts {
    urls: Vec<BrokerUrl>,
    host: String,
    port: Option<u16>,
    cafile: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    insecure: bool,
    topics: Vec<String>,
    message: Option<Vec<u8>>,
    file: Option<String>,
    lines: bool,
    qos: u8,
    retain: bool,
    id: Option<String>,
    user: Option<String>,
    password: Option<String>,
    keep_alive: u16,
    persistent: bool,
    will: (Option<String>, Option<String>, u8, bool),
    verbose: bool,
    count: Option<usize>,
    no_newline: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(String, Opts), String> {
    let cmd = args
        .next()
        .ok_or("usage: umqtt pub|sub [options] (see the example's docs)")?;
    if cmd != "pub" && cmd != "sub" {
        return Err(format!("unknown command {cmd:?}: use pub or sub"));
    }
    let mut o = Opts {
        host: "localhost".into(),
        keep_alive: 60,
        ..Default::default()
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-L" => o
                .urls
                .push(value()?.parse().map_err(|e| format!("-L: {e}"))?),
            "-h" => o.host = value()?,
            "-p" => o.port = Some(value()?.parse().map_err(|_| "-p needs a port number")?),
            "--cafile" => o.cafile = Some(value()?),
            "--cert" => o.cert = Some(value()?),
            "--key" => o.key = Some(value()?),
            "--insecure" => o.insecure = true,
            "-t" => o.topics.push(value()?),
            "-m" => o.message = Some(value()?.into_bytes()),
            "-f" => o.file = Some(value()?),
            "-n" => o.message = Some(Vec::new()),
            "-l" => o.lines = true,
            "-q" => {
                o.qos = value()?
                    .parse()
                    .ok()
                    .filter(|q| *q <= 2)
                    .ok_or("-q needs 0, 1 or 2")?
            }
            "-r" => o.retain = true,
            "-i" => o.id = Some(value()?),
            "-u" => o.user = Some(value()?),
            "-P" => o.password = Some(value()?),
            "-k" => o.keep_alive = value()?.parse().map_err(|_| "-k needs seconds")?,
            "-c" => o.persistent = true,
            "-v" => o.verbose = true,
            "-N" => o.no_newline = true,
            "-C" => o.count = Some(value()?.parse().map_err(|_| "-C needs a count")?),
            "--will-topic" => o.will.0 = Some(value()?),
            "--will-payload" => o.will.1 = Some(value()?),
            "--will-qos" => {
                o.will.2 = value()?
                    .parse()
                    .ok()
                    .filter(|q| *q <= 2)
                    .ok_or("--will-qos needs 0, 1 or 2")?
            }
            "--will-retain" => o.will.3 = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.topics.is_empty() {
        return Err("-t is required".into());
    }
    if cmd == "pub" && o.message.is_none() && o.file.is_none() && !o.lines {
        return Err("pub needs -m, -f, -l or -n".into());
    }
    if o.persistent && o.id.is_none() {
        return Err("-c needs a client id (-i)".into());
    }
    if o.cert.is_some() != o.key.is_some() {
        return Err("--cert and --key go together".into());
    }
    Ok((cmd, o))
}

fn qos(q: u8) -> QoS {
    QoS::from_bits(q).unwrap_or(QoS::AtMostOnce)
}

fn run(cmd: &str, o: &Opts) -> Result<(), Box<dyn std::error::Error>> {
    let id =
        o.id.clone()
            .unwrap_or_else(|| format!("umqtt-{cmd}-{}", std::process::id()));
    // sub prints a payload larger than its buffers piece by piece, in constant memory.
    let mut options = ConnectOptions::new(&id)?
        .keep_alive_secs(o.keep_alive)
        .clean_session(!o.persistent)
        .stream_oversized(cmd == "sub");
    if let Some(user) = &o.user {
        options = options.credentials(user, o.password.as_deref().map(str::as_bytes))?;
    }
    if let Some(topic) = &o.will.0 {
        options = options.will(
            topic,
            o.will.1.as_deref().unwrap_or("").as_bytes(),
            qos(o.will.2),
            o.will.3,
        )?;
    }
    let size = o.message.as_ref().map_or(0, Vec::len) + 64 * 1024;
    let client = Client::new(options, vec![0; size], vec![0; size], vec![0; 2 * size])?;
    let tls_flags = o.cafile.is_some() || o.cert.is_some() || o.insecure;
    let urls = match o.urls.is_empty() {
        true => {
            let (scheme, port) = if tls_flags {
                ("mqtts", 8883)
            } else {
                ("mqtt", 1883)
            };
            let url = format!("{scheme}://{}:{}", o.host, o.port.unwrap_or(port));
            vec![url.parse::<BrokerUrl>()?]
        }
        false => o.urls.clone(),
    };
    if tls_flags && !o.urls.is_empty() && !urls.iter().any(|u| u.scheme().is_tls()) {
        return Err("--cafile, --cert, --key and --insecure need an mqtts:// or wss:// URL".into());
    }
    let mut link = LinkOptions::new(size);
    if tls_flags || urls.iter().any(|u| u.scheme().is_tls()) {
        let read = |f: &str| std::fs::read(f).map_err(|e| format!("{f}: {e}"));
        let mut tls = match &o.cafile {
            Some(f) => TlsOptions::with_ca_pem(&read(f)?)?,
            None => TlsOptions::webpki_roots(),
        };
        if let (Some(cert), Some(key)) = (&o.cert, &o.key) {
            tls = tls.client_auth_pem(&read(cert)?, &read(key)?)?;
        }
        if o.insecure {
            tls = tls.insecure_skip_verification();
        }
        link = link.tls(tls);
    }
    // The brokers in order: the first that answers carries the session.
    let mut failures = Vec::new();
    for url in &urls {
        match StdLink::open(url, &link) {
            Ok(io) => return session(cmd, o, client, io),
            Err(e) => failures.push(format!("cannot reach {url}: {e}")),
        }
    }
    Err(failures.join("; ").into())
}

/// The pub or sub session over a connected transport (TCP or TLS).
fn session<T>(
    cmd: &str,
    o: &Opts,
    client: Client<Vec<u8>>,
    io: T,
) -> Result<(), Box<dyn std::error::Error>>
where
    T: embedded_io::Read + embedded_io::Write<Error = std::io::Error>,
{
    if cmd == "sub" {
        return subscribe(o, client, io);
    }
    // Events that arrive while a publish waits for room: acknowledgements, which the tool
    // ignores.
    let mut mqtt = Blocking::new(client, io, StdClock::new(), |_| {});
    mqtt.connect()?;
    let topic = &o.topics[0];
    if o.lines {
        for line in std::io::stdin().lock().lines() {
            mqtt.publish(topic, line?.as_bytes(), qos(o.qos), o.retain)?;
        }
    } else if let Some(m) = &o.message {
        mqtt.publish(topic, m, qos(o.qos), o.retain)?;
    } else if let Some(path) = &o.file {
        let file = std::fs::File::open(path).map_err(|e| format!("-f {path}: {e}"))?;
        let len = usize::try_from(file.metadata()?.len())?;
        let mut source = FileSource(file);
        mqtt.publish_from(topic, len, qos(o.qos), o.retain, &mut source)?;
    }
    mqtt.wait_published()?;
    mqtt.disconnect()?;
    Ok(())
}

/// `sub`: prints what arrives; with `-C`, COUNT messages, and not one more is acknowledged.
///
/// The core acknowledges a message when it hands it out, and a graceful disconnect goes on
/// processing what arrives while it completes the QoS 2 exchanges already open. So the
/// transport is wrapped in a [`Gate`]: the client never holds bytes past the packet it is
/// handling, and once the count is reached the gate drops every PUBLISH before the client
/// sees it (no PUBACK / PUBREC) while PUBREL and PINGRESP still pass.
fn subscribe<T>(o: &Opts, client: Client<Vec<u8>>, io: T) -> Result<(), Box<dyn std::error::Error>>
where
    T: embedded_io::Read + embedded_io::Write<Error = std::io::Error>,
{
    let taking = Rc::new(Cell::new(o.count != Some(0)));
    let io = Gate::new(io, Rc::clone(&taking));
    let sub = Sub {
        o,
        printed: Cell::new(0),
        refused: RefCell::new(None),
    };
    // What the client hands the handler (while an operation waits) is taken the same way:
    // a message is acknowledged once handed out, so it is printed, whatever the count (with
    // the gate, none comes past it).
    let handler = |event: Event<'_>| {
        let _ = sub.take(&mut std::io::stdout().lock(), &event);
    };
    let mut mqtt = Blocking::new(client, io, StdClock::new(), handler);
    mqtt.connect()?;
    let filters: Vec<Subscription<'_>> = o
        .topics
        .iter()
        .map(|t| {
            Ok(Subscription {
                filter: TopicFilter::new(t)?,
                qos: qos(o.qos),
            })
        })
        .collect::<Result<_, Error>>()?;
    mqtt.subscribe_many(&filters)?;
    let mut out = std::io::stdout().lock();
    loop {
        let done = o.count.is_some_and(|c| sub.printed.get() >= c);
        if done {
            taking.set(false);
        }
        let refused = sub.refused.borrow().clone();
        match refused {
            Some(refused) if !refused.is_empty() => {
                for filter in &refused {
                    eprintln!("umqtt: the broker refused the subscription to {filter:?}");
                }
                taking.set(false);
                mqtt.disconnect()?;
                return Err(match refused.len() == o.topics.len() {
                    true => "all subscription requests were denied".into(),
                    false => "a subscription was refused".into(),
                });
            }
            Some(_) if done => break,
            _ => {} // the SUBACK first, so that a refusal is reported even with -C
        }
        let event = mqtt.next_event()?;
        sub.take(&mut out, &event)?;
    }
    mqtt.disconnect()?;
    Ok(())
}

/// What `sub` keeps of the events: messages printed, and the broker's answer to the
/// SUBSCRIBE.
struct Sub<'a> {
    o: &'a Opts,
    printed: Cell<usize>,
    /// The filters the SUBACK refused; `None` until it comes.
    refused: RefCell<Option<Vec<String>>>,
}

impl Sub<'_> {
    /// Prints a message or piece of one, records a SUBACK.
    fn take(&self, out: &mut impl Write, event: &Event<'_>) -> std::io::Result<()> {
        if let Event::Subscribed { codes, .. } = event {
            let refused = codes
                .iter()
                .zip(&self.o.topics)
                .filter(|(code, _)| *code == SubackCode::Failure)
                .map(|(_, filter)| filter.clone())
                .collect();
            *self.refused.borrow_mut() = Some(refused);
        }
        if print(out, self.o, event)? {
            self.printed.set(self.printed.get() + 1);
        }
        Ok(())
    }
}

/// Prints a message, or a piece of one larger than rx (the connection ends on a cut, so a
/// message is never printed twice here); true once a message is printed whole.
fn print(out: &mut impl Write, o: &Opts, event: &Event<'_>) -> std::io::Result<bool> {
    match event {
        Event::Message(m) => {
            if o.verbose {
                write!(out, "{} ", m.topic)?;
            }
            out.write_all(m.payload)?;
        }
        Event::Chunk(c) => {
            if o.verbose && c.offset == 0 {
                write!(out, "{} ", c.topic)?;
            }
            out.write_all(c.data)?;
            if !c.is_last() {
                return Ok(false);
            }
        }
        _ => return Ok(false),
    }
    if !o.no_newline {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(true)
}

/// `sub`'s transport: hands the client the broker's bytes at most one packet per read, so
/// the client never holds a packet it has not handled, and drops every PUBLISH unseen by the
/// client while `taking` is false (it is never acknowledged). Other packets always pass.
struct Gate<T> {
    io: T,
    taking: Rc<Cell<bool>>,
    /// Bytes read from `io`, `start..end` not handed on yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the current packet still to hand on (or drop); 0 between packets.
    left: usize,
    dropping: bool,
}

impl<T> Gate<T> {
    fn new(io: T, taking: Rc<Cell<bool>>) -> Self {
        Gate {
            io,
            taking,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            left: 0,
            dropping: false,
        }
    }
}

/// The size of the packet at the start of `bytes` and whether it is a PUBLISH, once its
/// fixed header is there. A malformed length lets everything through: the client reports it.
fn packet_len(bytes: &[u8]) -> Option<(usize, bool)> {
    let (&first, rest) = bytes.split_first()?;
    let mut len = 0;
    for (i, &b) in rest.iter().take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((2 + i + len, first >> 4 == 3));
        }
    }
    (rest.len() >= 4).then_some((usize::MAX, false))
}

impl<T: embedded_io::ErrorType<Error = std::io::Error>> embedded_io::ErrorType for Gate<T> {
    type Error = std::io::Error;
}

impl<T: embedded_io::Read<Error = std::io::Error>> embedded_io::Read for Gate<T> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // At most one read of `io` per call (then "no data yet"), so the driver's keep-alive
        // runs while the gate drops a large message.
        let mut fresh = false;
        loop {
            if self.left == 0 {
                if let Some((len, publish)) = packet_len(&self.buf[self.start..self.end]) {
                    self.left = len;
                    self.dropping = publish && !self.taking.get();
                }
            }
            let buffered = (self.end - self.start).min(self.left);
            if buffered > 0 {
                let n = match self.dropping {
                    true => buffered,
                    false => buffered.min(out.len()),
                };
                if !self.dropping {
                    out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                }
                self.start += n;
                self.left -= n;
                match self.dropping {
                    true => continue,
                    false => return Ok(n),
                }
            }
            if fresh {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            if self.left > 0 && !self.dropping {
                // The rest of a packet: straight into the client's buffer.
                let want = self.left.min(out.len());
                let n = self.io.read(&mut out[..want])?;
                self.left -= n;
                return Ok(n);
            }
            // Keep a partial fixed header (at most 4 bytes) and read more after it.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            let n = self.io.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Ok(0);
            }
            self.end += n;
            fresh = true;
        }
    }
}

impl<T: embedded_io::Write<Error = std::io::Error>> embedded_io::Write for Gate<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.io.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush()
    }
}

/// A file as an `embedded_io` payload source for `publish_from`.
struct FileSource(std::fs::File);

impl embedded_io::ErrorType for FileSource {
    type Error = std::io::Error;
}

impl embedded_io::Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::io::Read::read(&mut self.0, buf)
    }
}

fn main() -> ExitCode {
    let (cmd, opts) = match parse(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("umqtt: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&cmd, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("umqtt: {e}");
            ExitCode::FAILURE
        }
    }
}
