//! The WebSocket transport against a scripted WebSocket server (tungstenite's, on a real
//! loopback socket): MQTT packets split across frames and several in one frame are one byte
//! stream, pings are answered, a frame at the limit passes and one past it is refused with
//! `WsFailure::TooLarge`, a text frame and a refused upgrade are typed errors, a close frame
//! ends the stream, and a client that disconnects sends one.

// tungstenite's server callback returns its large `ErrorResponse` by value.
#![allow(clippy::result_large_err)]

mod support;

use std::net::{TcpListener, TcpStream};
use std::thread;

use support::scripted::{connack, publish, suback};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::{Bytes, Message, WebSocket};
use umqtt::packet::{ConnectReturnCode, QosPid, SubackCode};
use umqtt::transport::url::BrokerUrl;
use umqtt::transport::websocket::{WsFailure, WsTransport};
use umqtt::{Blocking, Client, ConnectOptions, Error, Event, LinkError, QoS, StdClock};

type Server = WebSocket<TcpStream>;

/// A WebSocket server on a free port running `script` for one connection (subprotocol
/// `mqtt` granted); the URL to reach it.
fn serve(script: impl FnOnce(&mut Server) + Send + 'static) -> (BrokerUrl, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/mqtt", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let grant =
            |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
                assert_eq!(request.uri().path(), "/mqtt");
                let asked = request.headers().get("Sec-WebSocket-Protocol").unwrap();
                assert_eq!(asked, "mqtt");
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", asked.clone());
                Ok(response)
            };
        let mut ws = tungstenite::accept_hdr(tcp, grant).unwrap();
        script(&mut ws);
    });
    (url, server)
}

/// The next binary frame the client sent.
fn frame(ws: &mut Server) -> Vec<u8> {
    loop {
        match ws.read().unwrap() {
            Message::Binary(b) => return b.to_vec(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

fn binary(ws: &mut Server, bytes: &[u8]) {
    ws.send(Message::Binary(Bytes::copy_from_slice(bytes)))
        .unwrap();
}

type Driver = Blocking<Vec<u8>, WsTransport, StdClock, Box<dyn FnMut(Event<'_>)>>;

/// A client over `url` with an rx of `rx` bytes (the frame limit too), connected; the
/// events it saw go to `seen`.
fn client(
    url: &BrokerUrl,
    rx: usize,
    seen: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
) -> Driver {
    let io = WsTransport::connect(url, None, rx).unwrap();
    let client = Client::new(
        ConnectOptions::new("ws").unwrap(),
        vec![0; rx],
        vec![0; 512],
        vec![0; 1024],
    )
    .unwrap();
    let handler: Box<dyn FnMut(Event<'_>)> =
        Box::new(move |e| seen.borrow_mut().push(format!("{e:?}")));
    let mut d = Blocking::new(client, io, StdClock::new(), handler);
    d.connect().unwrap();
    d
}

fn failure(e: &Error<std::io::Error>) -> &WsFailure {
    match e {
        Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<WsFailure>())
            .unwrap_or_else(|| panic!("not a WsFailure: {io:?}")),
        other => panic!("not an I/O error: {other:?}"),
    }
}

#[test]
fn packets_split_across_frames_and_several_in_one_frame_are_one_stream() {
    let (url, server) = serve(|ws| {
        assert_eq!(frame(ws)[0], 0x10, "CONNECT first");
        // CONNACK in two frames, a ping between them.
        let ack = connack(false, ConnectReturnCode::Accepted);
        binary(ws, &ack[..1]);
        ws.send(Message::Ping(Bytes::from_static(b"hi"))).unwrap();
        binary(ws, &ack[1..]);
        // The client answered the ping (by the time its SUBSCRIBE comes).
        let mut pong = false;
        let subscribe = loop {
            match ws.read().unwrap() {
                Message::Pong(p) => pong = p == b"hi"[..],
                Message::Binary(b) => break b,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(subscribe[0], 0x82, "SUBSCRIBE");
        assert!(pong, "the ping was answered");
        // SUBACK and two messages in one frame.
        let mut many = suback(1, &[SubackCode::Success(QoS::AtMostOnce)]);
        many.extend(publish("t", b"a", QosPid::AtMostOnce, false));
        many.extend(publish("t", b"b", QosPid::AtMostOnce, false));
        binary(ws, &many);
        // A close frame; the client answers it (the closing handshake completes).
        ws.close(None).unwrap();
        ws.get_ref()
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("the client did not answer the close frame: {e}"),
            }
        }
    });
    let seen = std::rc::Rc::default();
    let mut d = client(&url, 256, std::rc::Rc::clone(&seen));
    d.subscribe("t", QoS::AtMostOnce).unwrap();
    let mut payloads = Vec::new();
    while payloads.len() < 2 {
        if let Event::Message(m) = d.next_event().unwrap() {
            payloads.push(m.payload.to_vec());
        }
    }
    assert_eq!(payloads, [b"a".to_vec(), b"b".to_vec()]);
    // The close frame ends the stream: the link is closed, typed.
    let end = d.next_event().map(|e| format!("{e:?}"));
    assert!(
        matches!(end, Err(Error::Link(LinkError::Closed))),
        "{end:?}"
    );
    server.join().unwrap();
}

#[test]
fn a_frame_at_the_limit_passes_and_one_byte_past_it_is_refused() {
    const RX: usize = 256;
    let (url, server) = serve(|ws| {
        frame(ws);
        binary(ws, &connack(false, ConnectReturnCode::Accepted));
        // A PUBLISH of exactly RX bytes in one frame of RX bytes: 1 + 2 (Remaining Length)
        // + 3 ("t") + payload.
        let fits = publish("t", &[7; RX - 6], QosPid::AtMostOnce, false);
        assert_eq!(fits.len(), RX);
        binary(ws, &fits);
        // One byte more.
        binary(ws, &[0u8; RX + 1]);
        let _ = ws.read();
    });
    let seen = std::rc::Rc::default();
    let mut d = client(&url, RX, seen);
    match d.next_event().unwrap() {
        Event::Message(m) => assert_eq!(m.payload.len(), RX - 6),
        other => panic!("{other:?}"),
    }
    let e = d.next_event().map(|e| format!("{e:?}")).unwrap_err();
    assert!(
        matches!(
            failure(&e),
            WsFailure::TooLarge {
                size: 257,
                limit: RX
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("257"), "{e}");
    drop(d);
    server.join().unwrap();
}

#[test]
fn a_text_frame_is_a_protocol_error() {
    let (url, server) = serve(|ws| {
        frame(ws);
        binary(ws, &connack(false, ConnectReturnCode::Accepted));
        ws.send(Message::text("hello")).unwrap();
        let _ = ws.read();
    });
    let mut d = client(&url, 256, std::rc::Rc::default());
    let e = d.next_event().map(|e| format!("{e:?}")).unwrap_err();
    assert!(matches!(failure(&e), WsFailure::Protocol(_)), "{e}");
    drop(d);
    server.join().unwrap();
}

#[test]
fn an_upgrade_refused_at_the_path_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url: BrokerUrl = format!("ws://{}/wrong", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
            let mut r = ErrorResponse::new(None);
            *r.status_mut() = tungstenite::http::StatusCode::NOT_FOUND;
            Err(r)
        };
        let _ = tungstenite::accept_hdr(tcp, refuse);
    });
    let e = WsTransport::connect(&url, None, 256).unwrap_err();
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<WsFailure>());
    assert!(
        matches!(inner, Some(WsFailure::Refused(why)) if why.contains("404")),
        "{e}"
    );
    server.join().unwrap();
}

/// Frames tungstenite already read ahead (two in one TCP segment) are seen by the readiness
/// check too: `check_msg`, which never waits, delivers both, not one now and one at the next
/// keep-alive.
#[test]
fn check_msg_delivers_frames_read_ahead_in_one_segment() {
    let (url, server) = serve(|ws| {
        frame(ws);
        binary(ws, &connack(false, ConnectReturnCode::Accepted));
        // Both frames go out before the client looks: they arrive together.
        ws.write(Message::Binary(Bytes::from(publish(
            "t",
            b"one",
            QosPid::AtMostOnce,
            false,
        ))))
        .unwrap();
        ws.write(Message::Binary(Bytes::from(publish(
            "t",
            b"two",
            QosPid::AtMostOnce,
            false,
        ))))
        .unwrap();
        ws.flush().unwrap();
        ws.get_ref()
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let _ = ws.read();
    });
    let seen: std::rc::Rc<std::cell::RefCell<Vec<String>>> = std::rc::Rc::default();
    let mut d = client(&url, 256, std::rc::Rc::clone(&seen));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let messages = |seen: &std::rc::Rc<std::cell::RefCell<Vec<String>>>| {
        seen.borrow()
            .iter()
            .filter(|e| e.starts_with("Message"))
            .count()
    };
    while messages(&seen) < 2 && std::time::Instant::now() < deadline {
        d.check_msg().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(messages(&seen), 2, "events: {:?}", seen.borrow());
    drop(d);
    server.join().unwrap();
}

/// Through `StdClient`, a frame past rx is the caller's typed error, not a reconnect loop
/// (the broker would send the same message again on every new connection).
#[test]
fn std_client_hears_a_frame_past_rx_instead_of_reconnecting_for_ever() {
    let (url, server) = serve(|ws| {
        frame(ws);
        binary(ws, &connack(false, ConnectReturnCode::Accepted));
        binary(ws, &[0u8; 300]);
        let _ = ws.read();
    });
    let client = Client::new(
        ConnectOptions::new("ws-std").unwrap(),
        vec![0; 256],
        vec![0; 256],
        vec![0; 1024],
    )
    .unwrap();
    let mut mqtt = umqtt::StdClient::new(client, url.clone()).unwrap();
    let e = mqtt.wait_msg().unwrap_err();
    assert!(
        matches!(
            failure(&e),
            WsFailure::TooLarge {
                size: 300,
                limit: 256
            }
        ),
        "{e}"
    );
    drop(mqtt);
    server.join().unwrap();
}

/// A client that disconnects sends DISCONNECT, then a Close frame before the TCP connection
/// closes (RFC 6455's closing handshake, started by the client).
#[test]
fn disconnect_then_a_close_frame() {
    let (url, server) = serve(|ws| {
        assert_eq!(frame(ws)[0], 0x10, "CONNECT first");
        binary(ws, &connack(false, ConnectReturnCode::Accepted));
        assert_eq!(frame(ws), [0xe0, 0x00], "DISCONNECT");
        match ws.read() {
            Ok(Message::Close(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    });
    let mut d = client(&url, 256, std::rc::Rc::default());
    d.disconnect().unwrap();
    drop(d);
    server.join().unwrap();
}
