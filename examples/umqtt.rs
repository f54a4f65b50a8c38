//! A mosquitto_pub / mosquitto_sub work-alike on umqtt.
//!
//! ```text
//! cargo run --example umqtt -- pub -t TOPIC (-m MSG | -f FILE | -l | -n) [options]
//! cargo run --example umqtt -- sub -t FILTER [-t FILTER…] [-v] [-C COUNT] [-N] [options]
//! options: -h HOST (localhost) -p PORT (1883; 8883 with TLS) -q QOS -r -i ID -u USER
//!          -P PASSWORD -k KEEPALIVE -c (no clean session)
//!          --will-topic T --will-payload P --will-qos Q --will-retain
//!          TLS: --cafile FILE --cert FILE --key FILE --insecure
//! ```
//! Exits non-zero with a message on bad arguments, an unreachable broker or a refusal.
//! `pub -f` streams the file from disk (`publish_from`) and `sub` prints a message larger
//! than its 64 KiB buffers piece by piece: either way, constant memory whatever the size.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use umqtt::adapters::tls::{TlsOptions, TlsTransport};
use umqtt::topic::TopicFilter;
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock, SubackCode, Subscription};
use umqtt::{Error, TcpTransport};

#[derive(Default)]
struct Opts {
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
    let tls = o.cafile.is_some() || o.cert.is_some() || o.insecure;
    let addr = format!(
        "{}:{}",
        o.host,
        o.port.unwrap_or(if tls { 8883 } else { 1883 })
    );
    if !tls {
        let io = TcpTransport::connect(&addr).map_err(|e| format!("cannot reach {addr}: {e}"))?;
        return session(cmd, o, client, io);
    }
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
    let io = TlsTransport::connect(&addr, &o.host, &tls).map_err(|e| format!("{addr}: {e}"))?;
    session(cmd, o, client, io)
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
    // Events that arrive while a publish waits for room, or while the disconnect completes
    // inbound QoS 2: acknowledgements (pub) and messages past -C (sub), which the tool ignores.
    let mut mqtt = Blocking::new(client, io, StdClock::new(), |_| {});
    mqtt.connect()?;
    if cmd == "pub" {
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
    } else {
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
        let mut seen = 0;
        let mut out = std::io::stdout().lock();
        while o.count.is_none_or(|c| seen < c) {
            match mqtt.next_event()? {
                Event::Subscribed { codes, .. }
                    if codes.iter().any(|c| c == SubackCode::Failure) =>
                {
                    return Err("the broker refused a subscription".into());
                }
                Event::Message(m) => {
                    seen += 1;
                    if o.verbose {
                        write!(out, "{} ", m.topic)?;
                    }
                    out.write_all(m.payload)?;
                    if !o.no_newline {
                        writeln!(out)?;
                    }
                    out.flush()?;
                }
                // A message larger than rx, in pieces (the connection ends on a cut, so a
                // message is never printed twice here).
                Event::Chunk(c) => {
                    if o.verbose && c.offset == 0 {
                        write!(out, "{} ", c.topic)?;
                    }
                    out.write_all(c.data)?;
                    if c.is_last() {
                        seen += 1;
                        if !o.no_newline {
                            writeln!(out)?;
                        }
                        out.flush()?;
                    }
                }
                _ => {}
            }
        }
    }
    mqtt.disconnect()?;
    Ok(())
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
