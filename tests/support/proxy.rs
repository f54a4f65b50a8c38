//! A loopback TCP proxy whose `cut` closes every connection passing through it (both sockets,
//! at once): the link failing under a client, on real sockets.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct CutProxy {
    pub addr: SocketAddr,
    live: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
}

impl CutProxy {
    pub fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (l, a) = (live.clone(), accepted.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(broker) = TcpStream::connect(upstream) else {
                    continue;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                let _ = broker.set_nodelay(true);
                for (from, to) in [(&client, &broker), (&broker, &client)] {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
                let mut live = l.lock().expect("proxy lock");
                live.push(client);
                live.push(broker);
            }
        });
        CutProxy {
            addr,
            live,
            accepted,
        }
    }

    /// Closes every connection now.
    pub fn cut(&self) {
        for s in self.live.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
