//! TLS (feature `rustls`) against mosquitto with a TLS listener and certificates generated here
//! (rcgen; nothing committed): server verification by our CA, mutual TLS, and the refusals —
//! wrong CA, wrong host name, expired certificate, missing client certificate — each a
//! sentence, before any MQTT byte reaches the broker (its log shows no CONNECT).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::broker::{find_program, mosquitto_required};
use support::pki::*;
use umqtt::packet::ConnectReturnCode;
use umqtt::transport::tls::{TlsOptions, TlsTransport};
use umqtt::{
    Blocking, BrokerError, Client, ConnectOptions, Error, Event, NonBlocking, QoS, StdClock,
};

/// `round_trip` with a client `id`.
fn round_trip_as(io: TlsTransport, id: &str) {
    round_trip(io, ConnectOptions::new(id).unwrap());
}

#[test]
fn pub_sub_over_tls_verified_by_our_ca_blocking_and_nonblocking() {
    let pki = pki();
    let d = dir("verified");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let options = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    round_trip_as(
        TlsTransport::connect(b.addr(), "localhost", &options).unwrap(),
        "tls-blocking",
    );
    // The non-blocking driver over the same transport: readiness never blocks.
    let io = TlsTransport::connect(b.addr(), "localhost", &options).unwrap();
    let client = Client::new(
        ConnectOptions::new("tls-nb").unwrap(),
        vec![0; 512],
        vec![0; 512],
        vec![0; 1024],
    );
    let mut m = NonBlocking::new(client.unwrap(), io, StdClock::new(), |_| {});
    let deadline = Instant::now() + Duration::from_secs(10);
    let block = |f: &mut dyn FnMut() -> bool| {
        while !f() {
            assert!(Instant::now() < deadline, "non-blocking over TLS stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    block(&mut || m.connect().is_ok());
    block(&mut || m.subscribe("nb/x", QoS::AtLeastOnce).is_ok());
    block(&mut || {
        m.publish("nb/x", "over TLS", QoS::AtLeastOnce, false)
            .is_ok()
    });
    block(&mut || matches!(m.next_event(), Ok(Event::Message(msg)) if msg.payload == b"over TLS"));
    block(&mut || m.disconnect().is_ok());
}

#[test]
fn mutual_tls_works_with_a_client_certificate_and_is_refused_without() {
    let pki = pki();
    let d = dir("mutual");
    let conf = "allow_anonymous true\nrequire_certificate true\n";
    let Some(b) = tls_broker(&d, &pki, false, conf) else {
        return;
    };
    let options = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    let mutual = options
        .clone()
        .client_auth_pem(pki.client_cert.as_bytes(), pki.client_key.as_bytes())
        .unwrap();
    round_trip_as(
        TlsTransport::connect(b.addr(), "localhost", &mutual).unwrap(),
        "tls-mutual",
    );
    // Without a certificate: TLS 1.3 finishes the client's side of the handshake first; the
    // broker's refusal arrives with the first read, before any MQTT packet is processed.
    let refused = TlsTransport::connect(b.addr(), "localhost", &options).and_then(|io| {
        let client = Client::new(
            ConnectOptions::new("tls-nocert").unwrap(),
            vec![0; 256],
            vec![0; 256],
            vec![0; 256],
        );
        let mut m = Blocking::new(client.unwrap(), io, StdClock::new(), |_| {});
        m.connect().map(|_| ()).map_err(|e| match e {
            Error::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })
    });
    let e = refused.expect_err("no client certificate must be refused");
    let text = e.to_string();
    eprintln!("without a client certificate: {text}");
    assert!(
        text.contains("client certificate") || text.contains("closed") || text.contains("reset"),
        "{text}"
    );
    assert!(
        !broker_log(&b).contains("tls-nocert"),
        "the broker never accepted a CONNECT from it"
    );
}

#[test]
fn wrong_ca_wrong_host_and_expired_certificates_are_refused_before_any_mqtt_byte() {
    let pki = pki();
    let d = dir("refused");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let other_ca = ca("another CA").0;
    let wrong_ca = TlsOptions::with_ca_pem(other_ca.as_bytes()).unwrap();
    let e = TlsTransport::connect(b.addr(), "localhost", &wrong_ca).unwrap_err();
    eprintln!("wrong CA: {e}");
    assert!(e.to_string().contains("not trusted"), "{e}");
    let ours = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    let e = TlsTransport::connect(b.addr(), "broker.example.com", &ours).unwrap_err();
    assert!(e.to_string().contains("host name mismatch"), "{e}");
    let log = broker_log(&b);
    assert!(
        !log.contains("CONNECT"),
        "no MQTT byte reached the broker: {log}"
    );
    drop(b);
    let d = dir("expired");
    let Some(b) = tls_broker(&d, &pki, true, "allow_anonymous true\n") else {
        return;
    };
    let e = TlsTransport::connect(b.addr(), "localhost", &ours).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    let log = broker_log(&b);
    assert!(
        log.contains("connection from"),
        "the broker saw the TCP connection: {log}"
    );
    assert!(
        !log.contains("New client connected"),
        "no MQTT session began: {log}"
    );
    assert!(
        !log.contains("CONNECT"),
        "no MQTT byte reached the broker: {log}"
    );
    // And the insecure mode, asked for by name, connects to the expired one anyway.
    let insecure = TlsOptions::with_ca_pem(pki.ca.as_bytes())
        .unwrap()
        .insecure_skip_verification();
    round_trip_as(
        TlsTransport::connect(b.addr(), "anything", &insecure).unwrap(),
        "tls-insecure",
    );
}

#[test]
fn password_login_over_tls() {
    let pki = pki();
    let d = dir("password");
    std::fs::create_dir_all(&d).unwrap();
    let Some(passwd_bin) = find_program("mosquitto_passwd") else {
        assert!(!mosquitto_required(), "mosquitto_passwd is required");
        return;
    };
    let pw = d.join("passwd");
    let status = Command::new(passwd_bin)
        .args(["-b", "-c"])
        .arg(&pw)
        .args(["alice", "s3cret"])
        .status()
        .unwrap();
    assert!(status.success());
    let conf = format!("allow_anonymous false\npassword_file {}\n", pw.display());
    let Some(b) = tls_broker(&d, &pki, false, &conf) else {
        return;
    };
    let options = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    for (password, ok) in [(&b"s3cret"[..], true), (b"wrong", false)] {
        let io = TlsTransport::connect(b.addr(), "localhost", &options).unwrap();
        let o = ConnectOptions::new("tls-pw")
            .unwrap()
            .credentials("alice", Some(password))
            .unwrap();
        let client = Client::new(o, vec![0; 256], vec![0; 256], vec![0; 256]).unwrap();
        let mut m = Blocking::new(client, io, StdClock::new(), |_| {});
        match m.connect() {
            Ok(_) => assert!(ok, "a wrong password was accepted"),
            Err(Error::Broker(BrokerError::Refused(
                ConnectReturnCode::BadUsernameOrPassword | ConnectReturnCode::NotAuthorized,
            ))) => assert!(!ok, "the right password was refused"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn tokio_async_driver_and_shared_handle_over_tls() {
    use umqtt::managed::tokio::{OwnedEvent, TokioClient};
    use umqtt::transport::tokio::{TokioDelay, connect_tls};
    use umqtt::{Async, Backoff};
    let pki = pki();
    let d = dir("tokio");
    let conf = "allow_anonymous true\nrequire_certificate true\n";
    let Some(b) = tls_broker(&d, &pki, false, conf) else {
        return;
    };
    let options = TlsOptions::with_ca_pem(pki.ca.as_bytes())
        .unwrap()
        .client_auth_pem(pki.client_cert.as_bytes(), pki.client_key.as_bytes())
        .unwrap();
    // The async driver over tokio-rustls, mutual TLS.
    let io = connect_tls(b.addr(), "localhost", &options).await.unwrap();
    let client = Client::new(
        ConnectOptions::new("tls-async").unwrap(),
        vec![0; 1024],
        vec![0; 1024],
        vec![0; 2048],
    );
    let mut m = Async::new(client.unwrap(), io, StdClock::new(), TokioDelay, |_| {});
    m.connect().await.unwrap();
    m.subscribe("tk/#", QoS::ExactlyOnce).await.unwrap();
    m.publish("tk/a", "async over TLS", QoS::ExactlyOnce, false)
        .await
        .unwrap();
    loop {
        if let Event::Message(msg) = m.next_event().await.unwrap() {
            assert_eq!(msg.payload, b"async over TLS");
            break;
        }
    }
    m.disconnect().await.unwrap();
    // The shared handle: its event loop connects (and would reconnect) over TLS.
    let (handle, mut eventloop) = TokioClient::new(
        b.addr().to_string(),
        ConnectOptions::new("tls-handle").unwrap(),
        8,
    )
    .unwrap();
    eventloop.use_tls("localhost", options.clone());
    eventloop.set_backoff(Backoff::new(10, 100));
    handle.subscribe("tk/#", QoS::AtLeastOnce).await.unwrap();
    let publisher = handle.clone();
    tokio::spawn(async move {
        publisher
            .publish("tk/h", "handle over TLS", QoS::AtLeastOnce, false)
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no message over TLS");
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(OwnedEvent::Message(msg))) => {
                assert_eq!(msg.payload, b"handle over TLS");
                break;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("the event loop stalled"),
        }
    }
    // Another CA's broker: refused with the sentence.
    let wrong = TlsOptions::with_ca_pem(ca("another CA").0.as_bytes()).unwrap();
    let Err(e) = connect_tls(b.addr(), "localhost", &wrong).await else {
        panic!("a broker from another CA was trusted");
    };
    assert!(e.to_string().contains("not trusted"), "{e}");
}

#[test]
fn a_reconnect_with_the_same_options_resumes_the_tls_session() {
    let pki = pki();
    let d = dir("resume");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let ours = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    let first = TlsTransport::connect(b.addr(), "localhost", &ours).unwrap();
    assert!(!first.resumed());
    // The session ticket arrives after the handshake: let the first connection carry MQTT.
    round_trip_as(first, "tls-resume-1");
    let again = TlsTransport::connect(b.addr(), "localhost", &ours.clone()).unwrap();
    assert!(again.resumed(), "a reconnect did a full handshake");
    round_trip_as(again, "tls-resume-2");
    // Options built anew share nothing, and resumption can be turned off: full handshakes.
    let fresh = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    let full = |o: &TlsOptions| {
        !TlsTransport::connect(b.addr(), "localhost", o)
            .unwrap()
            .resumed()
    };
    assert!(full(&fresh));
    let never = ours.no_resumption();
    round_trip_as(
        TlsTransport::connect(b.addr(), "localhost", &never).unwrap(),
        "tls-resume-3",
    );
    assert!(full(&never));
}

/// Runs `openssl` with `args` in `dir` (the test needs it installed, like mosquitto).
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new(find_program("openssl").expect("openssl"))
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl {args:?}");
}

/// Certificates made exactly as mosquitto's TLS documentation and the classic tutorials make
/// them (`openssl x509 -req` without `-extfile`: X.509 v1, the host name only in the CN), for
/// the broker and for the client, work as they do with mosquitto_pub and paho: the chain,
/// its signature, validity and the name (the CN) are checked, not refused outright; a wrong
/// CA (even one with the same name), and the CN against another host, are refused with a
/// sentence naming the cause and the openssl fix; so is an expired one.
#[test]
fn tutorial_certificates_x509_v1_with_only_a_cn_work_and_are_still_verified() {
    if find_program("openssl").is_none() {
        assert!(
            !mosquitto_required(),
            "openssl is needed where mosquitto is"
        );
        return;
    }
    let d = dir("v1");
    std::fs::create_dir_all(&d).unwrap();
    let path = |f: &str| d.join(f).display().to_string();
    openssl(
        &d,
        &[
            "req",
            "-new",
            "-x509",
            "-days",
            "365",
            "-nodes",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    for (who, cn) in [("server", "localhost"), ("client", "client")] {
        openssl(&d, &["genrsa", "-out", &format!("{who}.key"), "2048"]);
        openssl(
            &d,
            &[
                "req",
                "-out",
                &format!("{who}.csr"),
                "-key",
                &format!("{who}.key"),
                "-new",
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            &d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{who}.crt"),
                "-days",
                "365",
            ],
        );
    }
    // Another CA with the very same name: its key did not sign the broker's certificate.
    openssl(
        &d,
        &[
            "req",
            "-new",
            "-x509",
            "-days",
            "365",
            "-nodes",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            "impostor.key",
            "-out",
            "impostor.crt",
        ],
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", &path("server.crt")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
        "a v1 certificate"
    );

    let extra = format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nallow_anonymous true\n",
        path("ca.crt"),
        path("server.crt"),
        path("server.key")
    );
    let Some(broker) = support::broker::Broker::mosquitto_conf(&extra) else {
        return;
    };
    let port = broker.addr().port();
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    let options = |ca: &str| {
        TlsOptions::with_ca_pem(&read(ca))
            .unwrap()
            .client_auth_pem(&read("client.crt"), &read("client.key"))
            .unwrap()
    };
    // Verified by its CA, named by its CN, our v1 client certificate accepted by mosquitto.
    let io = TlsTransport::connect(("127.0.0.1", port), "localhost", &options("ca.crt")).unwrap();
    round_trip_as(io, "tls-v1");
    // Through StdClient and a URL, the way a paho user sets it up (tls_set).
    let options_std = ConnectOptions::new("tls-v1-std").unwrap();
    let client = Client::new(options_std, vec![0; 4096], vec![0; 4096], vec![0; 16384]).unwrap();
    let mut mqtt = umqtt::StdClient::new(client, format!("mqtts://localhost:{port}")).unwrap();
    mqtt.set_tls(options("ca.crt"));
    mqtt.publish("v1/t", "x", QoS::AtLeastOnce, false).unwrap();
    mqtt.wait_published().unwrap();
    mqtt.disconnect().unwrap();

    // Refused: the impostor CA, and the CN against another name.
    let e = TlsTransport::connect(("127.0.0.1", port), "localhost", &options("impostor.crt"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not signed by any of your CA certificates") && e.contains("--cafile"),
        "{e}"
    );
    // StdClient with that CA and no limit on attempts: the refusal is returned, not retried
    // (another attempt cannot change it; it used to retry, silently, forever).
    let client = Client::new(
        ConnectOptions::new("tls-v1-impostor").unwrap(),
        vec![0; 4096],
        vec![0; 4096],
        vec![0; 16384],
    )
    .unwrap();
    let mut mqtt = umqtt::StdClient::new(client, format!("mqtts://localhost:{port}")).unwrap();
    mqtt.set_tls(options("impostor.crt"));
    let (done, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = mqtt.publish("v1/t", "x", QoS::AtLeastOnce, false);
        let _ = done.send(r.map(|_| ()).map_err(|e| e.to_string()));
    });
    let e = answer
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the refusal returned, not retried")
        .unwrap_err();
    assert!(
        e.contains("not signed by any of your CA certificates"),
        "{e}"
    );
    let e = TlsTransport::connect(("127.0.0.1", port), "broker.local", &options("ca.crt"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("its CN (localhost) is not broker.local") && e.contains("openssl x509 -req"),
        "{e}"
    );
    // A CN never stands for an IP address.
    let e = TlsTransport::connect(("127.0.0.1", port), "127.0.0.1", &options("ca.crt"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("127.0.0.1 is an IP address") && e.contains("subjectAltName=IP:127.0.0.1"),
        "{e}"
    );

    // An expired v1 certificate from the right CA, for the right name (`-days -1`): refused.
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "expired.crt",
            "-days",
            "-1",
        ],
    );
    let extra = extra.replace(&path("server.crt"), &path("expired.crt"));
    let expired = support::broker::Broker::mosquitto_conf(&extra).unwrap();
    let port = expired.addr().port();
    let e = TlsTransport::connect(("127.0.0.1", port), "localhost", &options("ca.crt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the broker's certificate has expired"), "{e}");
}

/// The first connection over TLS starts from a placeholder, as over TCP
/// (`TlsTransport::disconnected`, then `reconnect`): the placeholder itself is NotConnected.
#[test]
fn the_first_connection_over_tls_starts_from_a_placeholder() {
    let pki = pki();
    let d = dir("placeholder");
    let Some(b) = tls_broker(&d, &pki, false, "allow_anonymous true\n") else {
        return;
    };
    let options = TlsOptions::with_ca_pem(pki.ca.as_bytes()).unwrap();
    let mut placeholder = TlsTransport::disconnected();
    let e = embedded_io::Read::read(&mut placeholder, &mut [0; 4]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
    let client = Client::new(
        ConnectOptions::new("tls-placeholder").unwrap(),
        vec![0; 512],
        vec![0; 512],
        vec![0; 1024],
    )
    .unwrap();
    let mut m = Blocking::new(client, placeholder, StdClock::new(), |_| {});
    let addr = b.addr();
    m.reconnect(
        |_| TlsTransport::connect(addr, "localhost", &options),
        &mut umqtt::Backoff::default(),
        &mut umqtt::StdDelay,
    )
    .unwrap();
    m.publish("placeholder/t", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    m.wait_published().unwrap();
    m.disconnect().unwrap();
}
