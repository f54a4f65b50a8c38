//! The tokio handle and event loop against a real broker (mosquitto in CI): 8 publisher tasks
//! share one `AsyncClient` and send 2,000 QoS 1 messages each through a proxy that cuts the
//! connection 20 times. Every publish call must resolve, and a subscriber (its own event loop,
//! a persistent session connected directly) must receive every message at least once.

mod live;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use live::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;
use umqtt::adapters::tokio::{AsyncClient, OwnedEvent};
use umqtt::{Backoff, ConnectOptions, QoS};

const TASKS: u32 = 8;
const PER_TASK: u32 = 2_000;
const CUTS: usize = 20;

/// A loopback proxy whose `cut` closes every connection passing through it.
struct Proxy {
    addr: SocketAddr,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (l, a) = (live.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    if let Ok(mut broker) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
                l.lock().await.push(task.abort_handle());
            }
        });
        Proxy {
            addr,
            live,
            accepted,
        }
    }

    /// Closes every connection now (both sockets are dropped).
    async fn cut(&self) {
        for task in self.live.lock().await.drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_publish_through_one_handle_across_twenty_cuts() {
    let broker = tokio::task::spawn_blocking(|| Broker::any(None))
        .await
        .unwrap();
    let proxy = Proxy::start(broker.addr()).await;

    // The subscriber: a persistent session, connected directly (no cuts), counting what
    // arrives.
    let sub_options = ConnectOptions::new("tk-sub").unwrap().clean_session(false);
    let (sub, mut sub_loop) = AsyncClient::new(sub_options, broker.addr().to_string(), 16).unwrap();
    let sub2 = sub.clone();
    let received = tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut deliveries = 0usize;
        let total = (TASKS * PER_TASK) as usize;
        while seen.len() < total {
            match tokio::time::timeout(Duration::from_secs(60), sub_loop.poll()).await {
                Ok(Ok(OwnedEvent::Message(m))) => {
                    deliveries += 1;
                    let task = u32::from(m.payload[0]);
                    let seq = u32::from_be_bytes(m.payload[1..5].try_into().unwrap());
                    seen.insert((task, seq));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("subscriber: {e}"),
                Err(_) => panic!("subscriber: no message for 60 s; {} of {total}", seen.len()),
            }
        }
        // A graceful disconnect: the handle asks, this loop carries it out.
        let bye = tokio::spawn(async move { sub2.disconnect().await });
        while !matches!(sub_loop.poll().await, Ok(OwnedEvent::Disconnected)) {}
        bye.await.unwrap().unwrap();
        (seen.len(), deliveries)
    });
    sub.subscribe("tk/#", QoS::AtLeastOnce).await.unwrap();

    // The publishers: one handle, cloned into 8 tasks, through the cutting proxy.
    let options = ConnectOptions::new("tk-pub")
        .unwrap()
        .clean_session(false)
        .keep_alive_secs(5);
    let (client, mut eventloop) = AsyncClient::new(options, proxy.addr.to_string(), 64).unwrap();
    eventloop.set_backoff(Backoff::new(5, 200));
    let link_errors = Arc::new(AtomicUsize::new(0));
    let completions = Arc::new(AtomicUsize::new(0));
    let (errors, done) = (link_errors.clone(), completions.clone());
    let driver = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(OwnedEvent::Published { .. }) => {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Ok(OwnedEvent::Lost { pid, .. }) => panic!("message {pid} lost"),
                Ok(OwnedEvent::Disconnected) => return,
                Ok(_) => {}
                Err(e) => {
                    assert!(e.closes_connection(), "{e}");
                    errors.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..PER_TASK {
                let mut payload = vec![task as u8];
                payload.extend_from_slice(&seq.to_be_bytes());
                let pid = client
                    .publish(format!("tk/{task}"), payload, QoS::AtLeastOnce, false)
                    .await
                    .unwrap_or_else(|e| panic!("task {task} message {seq}: {e}"));
                assert!(pid.is_some());
            }
        }));
    }
    // 20 cuts while the tasks publish.
    for _ in 0..CUTS {
        tokio::time::sleep(Duration::from_millis(50)).await;
        proxy.cut().await;
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("every publish call resolves")
            .unwrap();
    }
    let (distinct, deliveries) = tokio::time::timeout(Duration::from_secs(120), received)
        .await
        .expect("the subscriber receives every message")
        .unwrap();
    client.disconnect().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), driver)
        .await
        .unwrap()
        .unwrap();
    let connections = proxy.accepted.load(Ordering::SeqCst);
    eprintln!(
        "tokio handle: {TASKS} tasks x {PER_TASK} QoS 1 messages, {CUTS} cuts, {connections} \
         publisher connections, {} link errors seen by poll, {} completions, {deliveries} \
         deliveries of {distinct} distinct messages",
        link_errors.load(Ordering::SeqCst),
        completions.load(Ordering::SeqCst),
    );
    assert_eq!(distinct, (TASKS * PER_TASK) as usize);
    assert!(
        connections > CUTS / 2,
        "the cuts did not happen while publishing"
    );
}
