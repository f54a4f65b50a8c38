//! TLS for no_std (feature `embedded-tls`) against mosquitto with a TLS listener and
//! certificates made here: QoS 0–2 over `TlsLink` on a TCP socket and on the emulated W5500
//! (1 MiB each way, every byte checked), mutual TLS, a password over TLS, a chain through a
//! real intermediate CA, and the refusals — another CA, another host name, an expired
//! certificate (with a clock), a chain whose "intermediate" is a device's certificate (no CA
//! bit), a certificate whose alternative names miss the host though its common name has it —
//! before any MQTT byte reaches the broker.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use embedded_io::{ErrorType, Read, Write};
use rand_core::OsRng;
use support::broker::Broker;
use support::pki::*;
use umqtt::driver::time::StdDelay;
use umqtt::transport::embedded_tls::{
    MAX_RECORD, NoClock, TlsClock, TlsError, TlsLink, TlsLinkOptions,
};
use umqtt::transport::tls::{TlsOptions, TlsTransport};
use umqtt::{Blocking, Client, ConnectOptions, Event, QoS, StdClock, TcpTransport};
use w5500_io::emulator::Emulator;
use w5500_io::{NetConfig, TcpSocket, Timeouts, W5500};

/// The host's clock, for validity periods.
struct SystemClock;

impl TlsClock for SystemClock {
    fn now() -> Option<u64> {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }
}

struct Records {
    read: Vec<u8>,
    write: Vec<u8>,
}

fn records() -> Records {
    Records {
        read: vec![0; MAX_RECORD],
        write: vec![0; 4096],
    }
}

/// A TLS link to `b` over TCP, verifying it as `name` against `options`.
fn link<'a, C: TlsClock>(
    b: &Broker,
    options: &TlsLinkOptions<'a>,
    r: &'a mut Records,
) -> Result<TlsLink<'a, TcpTransport>, TlsError> {
    let tcp = TcpTransport::connect(b.addr()).unwrap();
    TlsLink::connect::<C>(tcp, options, OsRng, &mut r.read, &mut r.write)
}

#[test]
fn qos_0_1_2_and_a_password_over_embedded_tls_on_tcp() {
    let pki = pki();
    let d = dir("etls-pw");
    std::fs::create_dir_all(&d).unwrap();
    let pw = d.join("passwd");
    let status = std::process::Command::new(
        support::broker::find_program("mosquitto_passwd").expect("mosquitto_passwd"),
    )
    .args(["-b", "-c"])
    .arg(&pw)
    .args(["alice", "s3cret"])
    .status()
    .unwrap();
    assert!(status.success());
    let extra = format!("allow_anonymous false\npassword_file {}\n", pw.display());
    let Some(b) = tls_broker(&d, &pki, false, &extra) else {
        return;
    };
    let options = TlsLinkOptions::new("localhost", &pki.ca_der);
    let mut r = records();
    let io = link::<SystemClock>(&b, &options, &mut r).unwrap();
    let login = ConnectOptions::new("etls-pw")
        .unwrap()
        .credentials("alice", Some(b"s3cret"))
        .unwrap();
    round_trip(io, login);
}

#[test]
fn mutual_tls_works_with_a_client_certificate_and_is_refused_without() {
    let pki = pki();
    let d = dir("etls-mtls");
    let extra = "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n";
    let Some(b) = tls_broker(&d, &pki, false, extra) else {
        return;
    };
    let ours = TlsLinkOptions::new("localhost", &pki.ca_der)
        .client_auth(&pki.client_cert_der, &pki.client_key_der);
    let mut r = records();
    let io = link::<SystemClock>(&b, &ours, &mut r).unwrap();
    round_trip(io, ConnectOptions::new("etls-mtls").unwrap());

    // Without a certificate the broker ends the handshake (TLS 1.3: it may say so only
    // when we first read), and no MQTT session begins.
    let anonymous = TlsLinkOptions::new("localhost", &pki.ca_der);
    let mut r = records();
    let refused = match link::<SystemClock>(&b, &anonymous, &mut r) {
        Err(e) => format!("handshake: {e:?}"),
        Ok(io) => {
            let client = Client::new(
                ConnectOptions::new("etls-anon").unwrap(),
                vec![0; 1024],
                vec![0; 1024],
                vec![0; 2048],
            )
            .unwrap();
            let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
            let e = m
                .connect()
                .expect_err("connected without a client certificate");
            format!("connect: {e}")
        }
    };
    eprintln!("without a client certificate: {refused}");
    let log = broker_log(&b);
    assert!(
        !log.contains("New client connected from 127.0.0.1 as etls-anon"),
        "{log}"
    );
}

#[test]
fn another_ca_another_host_and_an_expired_certificate_are_refused_before_any_mqtt_byte() {
    let pki = pki();
    let d = dir("etls-refused");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let other_ca = ca("another CA").2;
    let mut r = records();
    let wrong_ca = TlsLinkOptions::new("localhost", &other_ca);
    let e = link::<SystemClock>(&b, &wrong_ca, &mut r).err();
    assert!(matches!(e, Some(TlsError::InvalidCertificate)), "{e:?}");
    let wrong_host = TlsLinkOptions::new("broker.example.com", &pki.ca_der);
    let e = link::<SystemClock>(&b, &wrong_host, &mut r).err();
    assert!(matches!(e, Some(TlsError::InvalidCertificate)), "{e:?}");
    let log = broker_log(&b);
    assert!(
        !log.contains("CONNECT"),
        "an MQTT byte reached the broker: {log}"
    );
    drop(b);

    let d = dir("etls-expired");
    let Some(b) = tls_broker(&d, &pki, true, "allow_anonymous true\n") else {
        return;
    };
    let ours = TlsLinkOptions::new("localhost", &pki.ca_der);
    let e = link::<SystemClock>(&b, &ours, &mut r).err();
    assert!(matches!(e, Some(TlsError::InvalidCertificate)), "{e:?}");
    let log = broker_log(&b);
    assert!(log.contains("connection from"), "{log}");
    assert!(
        !log.contains("CONNECT"),
        "an MQTT byte reached the broker: {log}"
    );
    // The documented limit: without a clock the validity period is not checked.
    let io = link::<NoClock>(&b, &ours, &mut r).unwrap();
    round_trip(io, ConnectOptions::new("etls-noclock").unwrap());
}

const MESSAGE: usize = 4 * 1024;
const TOTAL: usize = 1024 * 1024;

/// Message `seq`: its number, then bytes that differ with every position and message.
fn message(seq: usize) -> Vec<u8> {
    let mut m: Vec<u8> = (0..MESSAGE)
        .map(|i| (i.wrapping_mul(131) ^ seq.wrapping_mul(7919)) as u8)
        .collect();
    m[..4].copy_from_slice(&(seq as u32).to_be_bytes());
    m
}

/// A W5500 socket (emulated, bridged to real TCP) connected to `b`, and its chip.
fn w5500_socket(b: &Broker, mac: u8) -> (Emulator, TcpSocket<Emulator, StdDelay>) {
    let emu = Emulator::new();
    let mut chip = W5500::new(emu.clone());
    let config = NetConfig {
        mac: [0x02, 0x00, 0x00, 0x00, 0x55, mac],
        ip: [127, 0, 0, 2],
        gateway: [127, 0, 0, 1],
        subnet: [255, 0, 0, 0],
    };
    chip.init(&config, &mut StdDelay).unwrap();
    chip.set_buffer_kib(0, 2, 2).unwrap(); // small: back-pressure and wrap-around
    let mut socket = TcpSocket::new(chip, 0, StdDelay, Timeouts::default()).unwrap();
    socket.connect([127, 0, 0, 1], b.addr().port()).unwrap();
    (emu, socket)
}

#[test]
fn qos_0_1_2_over_embedded_tls_on_the_w5500() {
    let pki = pki();
    let d = dir("etls-w5500-q");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let options = TlsLinkOptions::new("localhost", &pki.ca_der);
    let mut r = records();
    let (_emu, socket) = w5500_socket(&b, 0x02);
    let io = TlsLink::connect::<SystemClock>(socket, &options, OsRng, &mut r.read, &mut r.write)
        .unwrap();
    round_trip(io, ConnectOptions::new("etls-w5500-q").unwrap());
}

#[test]
fn one_mib_each_way_over_embedded_tls_on_the_w5500() {
    let pki = pki();
    let d = dir("etls-w5500");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let (emu, socket) = w5500_socket(&b, 0x01);
    let options = TlsLinkOptions::new("localhost", &pki.ca_der);
    let mut r = records();
    let io = TlsLink::connect::<SystemClock>(socket, &options, OsRng, &mut r.read, &mut r.write)
        .unwrap();
    let n = TOTAL / MESSAGE;
    let seen = Rc::new(RefCell::new((vec![false; n], 0usize)));
    let handled = seen.clone();
    let handler = move |e: Event<'_>| {
        let mut s = handled.borrow_mut();
        match e {
            Event::Message(m) => {
                let seq = u32::from_be_bytes(m.payload[..4].try_into().unwrap()) as usize;
                assert!(
                    m.payload == message(seq).as_slice(),
                    "message {seq} differs"
                );
                s.0[seq] = true;
            }
            Event::Published { .. } => s.1 += 1,
            _ => {}
        }
    };
    let client = Client::new(
        ConnectOptions::new("etls-w5500")
            .unwrap()
            .keep_alive_secs(10),
        vec![0; MESSAGE + 64],
        vec![0; MESSAGE + 64],
        vec![0; 32 * 1024],
    )
    .unwrap();
    let mut m = Blocking::new(client, io, StdClock::new(), handler);
    m.connect().unwrap();
    m.subscribe("etls/echo", QoS::AtLeastOnce).unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    for next in 0..n {
        assert!(Instant::now() < deadline, "timed out at {next}");
        m.publish("etls/echo", message(next), QoS::AtLeastOnce, false)
            .unwrap();
    }
    m.wait_published().unwrap();
    while !(seen.borrow().0.iter().all(|s| *s) && seen.borrow().1 == n) {
        assert!(Instant::now() < deadline, "timed out");
        m.wait_msg().unwrap();
    }
    m.disconnect().unwrap();
    let stats = emu.stats(0);
    eprintln!("W5500 socket 0 under TLS: {stats:?}");
    assert!(
        stats.sent >= TOTAL as u64 && stats.received >= TOTAL as u64,
        "{stats:?}"
    );
}

/// The stream under the MQTT client, with every byte the client writes into it recorded.
struct Recorded<T> {
    inner: T,
    sent: Rc<RefCell<Vec<u8>>>,
}

impl<T: ErrorType> ErrorType for Recorded<T> {
    type Error = T::Error;
}

impl<T: Read + ErrorType> Read for Recorded<T> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, T::Error> {
        self.inner.read(buf)
    }
}

impl<T: Write + ErrorType> Write for Recorded<T> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, T::Error> {
        let n = self.inner.write(buf)?;
        self.sent.borrow_mut().extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), T::Error> {
        self.inner.flush()
    }
}

/// What a device does with the link it got: CONNECT with its login ("alice", "s3cret").
/// Returns the handshake's verdict and every byte of MQTT the client wrote into the link.
fn log_in_over<S: Read + Write>(
    link: Result<TlsLink<'_, S>, TlsError>,
    id: &str,
) -> (Result<(), TlsError>, Vec<u8>) {
    let io = match link {
        Ok(io) => io,
        Err(e) => return (Err(e), Vec::new()),
    };
    let sent = Rc::new(RefCell::new(Vec::new()));
    let io = Recorded {
        inner: io,
        sent: sent.clone(),
    };
    let login = ConnectOptions::new(id)
        .unwrap()
        .credentials("alice", Some(b"s3cret"))
        .unwrap();
    let client = Client::new(login, vec![0; 1024], vec![0; 1024], vec![0; 2048]).unwrap();
    let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
    let connected = m.connect();
    eprintln!("{id}: the handshake succeeded; CONNECT with the login: {connected:?}");
    drop(m);
    let sent = sent.borrow().clone();
    (Ok(()), sent)
}

/// Neither a byte of MQTT nor the password went out, and the broker saw no CONNECT.
fn assert_nothing_went_out(b: &Broker, id: &str, (verdict, sent): (Result<(), TlsError>, Vec<u8>)) {
    assert!(
        sent.is_empty(),
        "{id}: {} bytes of MQTT went out (the password among them: {}): {:?}",
        sent.len(),
        sent.windows(6).any(|w| w == b"s3cret"),
        String::from_utf8_lossy(&sent)
    );
    assert!(
        matches!(verdict, Err(TlsError::InvalidCertificate)),
        "{id}: {verdict:?}"
    );
    let log = broker_log(b);
    assert!(
        !log.contains("CONNECT") && !log.contains("CONNACK") && !log.contains("alice"),
        "{id}: an MQTT byte reached the broker: {log}"
    );
}

#[test]
fn a_chain_through_a_device_certificate_is_refused_and_one_through_a_real_intermediate_works() {
    let (ca_pem, fleet, ca_der) = ca("fleet CA");
    // One device's certificate and key, extracted: it signs a `localhost` broker certificate.
    let (device, _, device_issuer) = signed(device_params("device-1"), &fleet);
    let (forged, forged_key, _) =
        signed(server_params(&["localhost"], "localhost"), &device_issuer);
    let d = dir("etls-forged");
    let chain = format!("{forged}{device}");
    let Some(b) = tls_broker_serving(&d, &ca_pem, &chain, &forged_key, "allow_anonymous true\n")
    else {
        return;
    };
    let options = TlsLinkOptions::new("localhost", &ca_der);

    let mut r = records();
    let (_emu, socket) = w5500_socket(&b, 0x03);
    let tls = TlsLink::connect::<SystemClock>(socket, &options, OsRng, &mut r.read, &mut r.write);
    let outcome = log_in_over(tls, "etls-forged-w5500");
    eprintln!("forged chain over the W5500: {:?}", outcome.0);
    assert_nothing_went_out(&b, "etls-forged-w5500", outcome);

    let mut r = records();
    let outcome = log_in_over(link::<SystemClock>(&b, &options, &mut r), "etls-forged-tcp");
    eprintln!("forged chain over TCP: {:?}", outcome.0);
    assert_nothing_went_out(&b, "etls-forged-tcp", outcome);

    // rustls reads the same chain the same way.
    let rustls = TlsOptions::with_ca_pem(ca_pem.as_bytes()).unwrap();
    let e = TlsTransport::connect(b.addr(), "localhost", &rustls).unwrap_err();
    eprintln!("rustls on the forged chain: {e}");
    drop(b);

    // The same shape with a CA's certificate in the middle is a good chain.
    let (intermediate, _, intermediate_issuer) =
        signed(intermediate_params("fleet intermediate"), &fleet);
    let (server, server_key, _) = signed(
        server_params(&["localhost"], "umqtt test"),
        &intermediate_issuer,
    );
    let d = dir("etls-intermediate");
    let chain = format!("{server}{intermediate}");
    let Some(b) = tls_broker_serving(&d, &ca_pem, &chain, &server_key, "allow_anonymous true\n")
    else {
        return;
    };
    let mut r = records();
    let (_emu, socket) = w5500_socket(&b, 0x04);
    let io = TlsLink::connect::<SystemClock>(socket, &options, OsRng, &mut r.read, &mut r.write)
        .unwrap();
    round_trip(io, ConnectOptions::new("etls-intermediate").unwrap());
}

#[test]
fn a_certificate_whose_alternative_names_miss_the_host_is_refused_whatever_its_common_name() {
    let (ca_pem, issuer, ca_der) = ca("umqtt test CA");
    let (cert, key, _) = signed(server_params(&["other.example"], "localhost"), &issuer);
    let d = dir("etls-san");
    let Some(b) = tls_broker_serving(&d, &ca_pem, &cert, &key, "allow_anonymous true\n") else {
        return;
    };
    let as_localhost = TlsLinkOptions::new("localhost", &ca_der);

    let mut r = records();
    let (_emu, socket) = w5500_socket(&b, 0x05);
    let tls =
        TlsLink::connect::<SystemClock>(socket, &as_localhost, OsRng, &mut r.read, &mut r.write);
    let outcome = log_in_over(tls, "etls-san-w5500");
    eprintln!(
        "SAN other.example, CN localhost, as localhost over the W5500: {:?}",
        outcome.0
    );
    assert_nothing_went_out(&b, "etls-san-w5500", outcome);

    let mut r = records();
    let outcome = log_in_over(
        link::<SystemClock>(&b, &as_localhost, &mut r),
        "etls-san-tcp",
    );
    eprintln!(
        "SAN other.example, CN localhost, as localhost over TCP: {:?}",
        outcome.0
    );
    assert_nothing_went_out(&b, "etls-san-tcp", outcome);

    let rustls = TlsOptions::with_ca_pem(ca_pem.as_bytes()).unwrap();
    let e = TlsTransport::connect(b.addr(), "localhost", &rustls).unwrap_err();
    eprintln!("rustls, as localhost: {e}");

    // The name it does carry is accepted.
    let as_named = TlsLinkOptions::new("other.example", &ca_der);
    let mut r = records();
    let io = link::<SystemClock>(&b, &as_named, &mut r).unwrap();
    round_trip(io, ConnectOptions::new("etls-san-named").unwrap());
}

/// A device's client certificate (extendedKeyUsage clientAuth only) that carries the broker's
/// name is not a broker's: refused, as rustls refuses it, over the W5500 and TCP.
#[test]
fn a_client_certificate_carrying_the_brokers_name_is_refused() {
    let (ca_pem, issuer, ca_der) = ca("umqtt test CA");
    let (cert, key, _) = signed(device_params("localhost"), &issuer);
    let d = dir("etls-eku");
    let Some(b) = tls_broker_serving(&d, &ca_pem, &cert, &key, "allow_anonymous true\n") else {
        return;
    };
    let as_localhost = TlsLinkOptions::new("localhost", &ca_der);
    let mut r = records();
    let (_emu, socket) = w5500_socket(&b, 0x06);
    let tls =
        TlsLink::connect::<SystemClock>(socket, &as_localhost, OsRng, &mut r.read, &mut r.write);
    let outcome = log_in_over(tls, "etls-eku-w5500");
    eprintln!(
        "a clientAuth-only certificate over the W5500: {:?}",
        outcome.0
    );
    assert_nothing_went_out(&b, "etls-eku-w5500", outcome);
    let mut r = records();
    let outcome = log_in_over(
        link::<SystemClock>(&b, &as_localhost, &mut r),
        "etls-eku-tcp",
    );
    assert_nothing_went_out(&b, "etls-eku-tcp", outcome);
    let rustls = TlsOptions::with_ca_pem(ca_pem.as_bytes()).unwrap();
    let e = TlsTransport::connect(b.addr(), "localhost", &rustls).unwrap_err();
    eprintln!("rustls: {e}");
}
