//! TLS over std TCP for the blocking and non-blocking drivers (feature `rustls`): rustls with the
//! `ring` provider (it builds with a C compiler alone; aws-lc-rs would need CMake and more on
//! a fresh machine).
//!
//! [`TlsOptions`] says whom to trust and who we are: the webpki roots by default, or your CA
//! (PEM); a client certificate and key for mutual TLS; ALPN protocols; and — only when asked
//! for by name — no verification at all. [`TlsTransport::connect`] finishes the handshake
//! before it returns, so a broker that cannot be trusted never sees an MQTT byte, and the
//! failure reads as a sentence ("certificate not trusted", "host name mismatch", "the broker
//! requires a client certificate").
//!
//! ```no_run
//! use umqtt::transport::tls::{TlsOptions, TlsTransport};
//!
//! let ca = std::fs::read("ca.pem")?;
//! let options = TlsOptions::with_ca_pem(&ca)?
//!     .client_auth_pem(&std::fs::read("client.pem")?, &std::fs::read("client.key")?)?;
//! let io = TlsTransport::connect("broker.example.com:8883", "broker.example.com", &options)?;
//! // `io` is the transport of `Blocking::new` or `NonBlocking::new`.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

mod verify;

/// How long the handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The read timeout afterwards: how often a blocked read returns to service keep-alive.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Whom to trust and who we are, for [`TlsTransport::connect`]. Keep it (or clones of it)
/// for every connection to the same broker: the rustls configuration built at the first
/// connect is kept with its session cache, so a reconnect resumes the TLS session (a
/// shorter handshake) when the broker allows it.
#[derive(Clone)]
pub struct TlsOptions {
    roots: RootCertStore,
    /// Your CA certificates as given: what [`verify`] checks the certificates webpki cannot
    /// read against.
    cas: Vec<CertificateDer<'static>>,
    client: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    alpn: Vec<Vec<u8>>,
    insecure: bool,
    resume: bool,
    /// The configuration, built once and shared by the clones.
    built: Arc<std::sync::OnceLock<Arc<ClientConfig>>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("TlsOptions")
            .field("roots", &self.roots.len())
            .field("client_certificate", &self.client.is_some())
            .field("alpn", &self.alpn)
            .field("insecure", &self.insecure)
            .field("resume", &self.resume)
            .finish()
    }
}

/// A certificate, key or CA file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfigError(String);

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsConfigError {}

pub(crate) fn config_error(what: &str, e: impl fmt::Display) -> TlsConfigError {
    TlsConfigError(std::format!("{what}: {e}"))
}

impl TlsOptions {
    /// Trust the Mozilla root certificates (webpki-roots): for hosted brokers.
    pub fn webpki_roots() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::trusting(roots)
    }

    /// Trust only the CA certificates in `pem` (`--cafile`): for your own broker.
    pub fn with_ca_pem(pem: &[u8]) -> Result<Self, TlsConfigError> {
        Self::trusting(RootCertStore::empty()).add_ca_pem(pem)
    }

    fn trusting(roots: RootCertStore) -> Self {
        TlsOptions {
            roots,
            cas: Vec::new(),
            client: None,
            alpn: Vec::new(),
            insecure: false,
            resume: true,
            built: Arc::default(),
        }
    }

    /// `options`, or the webpki roots when none were given: what `mqtts://` and `wss://`
    /// URLs connect with by default.
    pub(crate) fn or_webpki(options: Option<&TlsOptions>) -> std::borrow::Cow<'_, TlsOptions> {
        match options {
            Some(o) => std::borrow::Cow::Borrowed(o),
            None => std::borrow::Cow::Owned(TlsOptions::webpki_roots()),
        }
    }

    /// Also trust the CA certificates in `pem`.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<Self, TlsConfigError> {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| config_error("CA file", e))?;
            self.roots
                .add(cert.clone())
                .map_err(|e| config_error("CA certificate", e))?;
            self.cas.push(cert);
            added += 1;
        }
        if added == 0 {
            return Err(TlsConfigError("CA file: no certificate in it".into()));
        }
        Ok(self.changed())
    }

    /// Present this client certificate chain and key (PEM; `--cert`, `--key`): mutual TLS.
    pub fn client_auth_pem(
        mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, TlsConfigError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| config_error("client certificate", e))?;
        if chain.is_empty() {
            return Err(TlsConfigError(
                "client certificate: none in the file".into(),
            ));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| config_error("client key", e))?;
        self.client = Some((chain, Arc::new(key)));
        Ok(self.changed())
    }

    /// Offer `protocol` by ALPN (AWS IoT Core on port 443: `x-amzn-mqtt-ca`).
    pub fn alpn(mut self, protocol: &[u8]) -> Self {
        self.alpn.push(protocol.to_vec());
        self.changed()
    }

    /// Do not verify the broker's certificate or name at all (`--insecure`). Anyone on the
    /// path can then read and change the traffic: for tests against a broker you control.
    pub fn insecure_skip_verification(mut self) -> Self {
        self.insecure = true;
        self.changed()
    }

    /// Never resume a TLS session: every connection does a full handshake (for a broker that
    /// mishandles resumption, or to measure the full handshake).
    pub fn no_resumption(mut self) -> Self {
        self.resume = false;
        self.changed()
    }

    /// These options are not the ones a configuration was built from any more.
    fn changed(mut self) -> Self {
        self.built = Arc::default();
        self
    }

    /// The rustls configuration: built at the first call, then the same one (with its session
    /// cache) for every connection made with these options or their clones.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        if let Some(config) = self.built.get() {
            return Ok(config.clone());
        }
        let config = self.build()?;
        Ok(self.built.get_or_init(|| config).clone())
    }

    fn build(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS versions", e))?;
        let builder = match self.insecure {
            true => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::NoVerification(
                    provider.clone(),
                ))),
            false => {
                let roots = Arc::new(self.roots.clone());
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| config_error("CA certificates", e))?;
                let verifier = verify::Verifier::new(webpki, &self.cas, &provider);
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
        };
        let mut config = match &self.client {
            // A v1 certificate (openssl x509 -req without -extfile): rustls's own check that
            // the key matches it reads it with webpki, which cannot.
            Some((chain, key)) if chain.first().is_some_and(verify::is_v1_der) => {
                let signing = provider
                    .key_provider
                    .load_private_key(key.clone_key())
                    .map_err(|e| config_error("client key", e))?;
                let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
                builder.with_client_cert_resolver(Arc::new(verify::ClientCert(Arc::new(certified))))
            }
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| config_error("client certificate and key", e))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        if !self.resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Arc::new(config))
    }
}

/// Why a TLS connection failed, as a sentence; the rustls error is its source.
#[derive(Debug)]
pub struct TlsFailure(rustls::Error);

impl TlsFailure {
    /// The rustls error.
    pub fn rustls(&self) -> &rustls::Error {
        &self.0
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        if let E::InvalidCertificate(C::Other(other)) = &self.0 {
            if let Some(why) = other.0.downcast_ref::<verify::LegacyFailure>() {
                return write!(f, "the broker's certificate is not trusted: {why}");
            }
        }
        let what = match &self.0 {
            E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                "the broker's certificate is not trusted (unknown issuer)"
            }
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                "host name mismatch: the broker's certificate is for another name"
            }
            E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                "the broker's certificate has expired"
            }
            E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
                "the broker's certificate is not valid yet"
            }
            E::AlertReceived(A::CertificateRequired) => "the broker requires a client certificate",
            E::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => {
                "the broker refused our client certificate"
            }
            _ => return write!(f, "TLS failed: {}", self.0),
        };
        write!(f, "{what} ({})", self.0)
    }
}

impl std::error::Error for TlsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// True when `e` is a TLS certificate refused, by us or by the broker (rustls's error, as
/// this transport or tokio-rustls wraps it).
pub(crate) fn certificate_refused(e: &io::Error) -> bool {
    use rustls::{AlertDescription as A, Error as E};
    let inner = e.get_ref();
    let rustls = inner
        .and_then(|i| i.downcast_ref::<TlsFailure>().map(TlsFailure::rustls))
        .or_else(|| inner.and_then(|i| i.downcast_ref::<rustls::Error>()));
    matches!(
        rustls,
        Some(
            E::InvalidCertificate(_)
                | E::AlertReceived(
                    A::BadCertificate
                        | A::UnknownCA
                        | A::CertificateUnknown
                        | A::CertificateRequired
                )
        )
    )
}

pub(crate) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsFailure(e))
}

/// A TLS connection over std TCP implementing `embedded_io::{Read, Write, ReadReady,
/// WriteReady}`, like [`super::tcp::TcpTransport`]: a 100 ms read timeout reads as
/// `ErrorKind::TimedOut` ("no data yet"); the readiness answers never block.
pub struct TlsTransport {
    /// None: the placeholder before the first connection ([`TlsTransport::disconnected`]).
    tls: Option<Tls>,
}

/// A live TLS connection: rustls's state and the socket under it.
struct Tls {
    conn: ClientConnection,
    sock: TcpStream,
    /// Closed already ([`TlsTransport::close`]): nothing to do when dropped.
    ended: bool,
}

impl Tls {
    /// Ends TLS with its close_notify alert (best effort), then the socket without a reset
    /// ([`super::tcp::close_gracefully`], waiting for the broker's end with `wait`).
    fn end(&mut self, wait: bool) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.conn.send_close_notify();
        let _ = self.sock.set_write_timeout(Some(super::tcp::CLOSE_TIMEOUT));
        let _ = self.send_tls();
        super::tcp::close_gracefully(&self.sock, wait);
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        self.end(false);
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tls = self.tls.as_ref();
        f.debug_struct("TlsTransport")
            .field("peer", &tls.and_then(|t| t.sock.peer_addr().ok()))
            .field("protocol", &tls.and_then(|t| t.conn.protocol_version()))
            .finish()
    }
}

impl TlsTransport {
    /// Connects to `addr`, verifying the broker as `server_name` (its host name, also sent as
    /// SNI, or an IP address), and completes the handshake. Errors: I/O, a bad configuration
    /// ([`TlsConfigError`]) or a failed handshake ([`TlsFailure`]), each as an `io::Error`
    /// whose `Display` says what failed.
    pub fn connect(
        addr: impl ToSocketAddrs,
        server_name: &str,
        options: &TlsOptions,
    ) -> io::Result<Self> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        TlsTransport::over(sock, server_name, options)
    }

    /// [`TlsTransport::connect`] over a TCP connection you made (a proxy tunnel, say).
    pub fn over(sock: TcpStream, server_name: &str, options: &TlsOptions) -> io::Result<Self> {
        let (conn, sock) = handshake(sock, server_name, options)?;
        sock.set_read_timeout(Some(READ_TIMEOUT))?;
        Ok(TlsTransport {
            tls: Some(Tls {
                conn,
                sock,
                ended: false,
            }),
        })
    }

    /// A placeholder until the first connection, as [`super::tcp::TcpTransport::disconnected`]:
    /// every read and write is `NotConnected` (hand it to `Blocking::new`, then `reconnect`).
    pub fn disconnected() -> Self {
        TlsTransport { tls: None }
    }

    /// The live connection, or `NotConnected`.
    fn live(&mut self) -> io::Result<&mut Tls> {
        self.tls
            .as_mut()
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// The TCP socket under the TLS connection (none for the placeholder).
    pub fn socket(&self) -> Option<&TcpStream> {
        self.tls.as_ref().map(|t| &t.sock)
    }

    /// Ends the connection once the driver's `disconnect` returned: TLS's close_notify,
    /// then the socket as [`super::tcp::TcpTransport::close`] ends it (waiting for the
    /// broker's end, at most [`super::tcp::CLOSE_TIMEOUT`]). Then it is disconnected.
    pub fn close(&mut self) {
        if let Some(mut tls) = self.tls.take() {
            tls.end(true);
        }
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.tls.as_ref()?.conn.alpn_protocol()
    }

    /// True when the handshake resumed an earlier TLS session (a reconnect with the same
    /// [`TlsOptions`] to a broker that allows it).
    pub fn resumed(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
    }
}

impl Tls {
    /// Writes what rustls has queued (records, alerts) to the socket.
    fn send_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock)? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Reads TLS records from the socket once; `Ok(false)` at end of stream.
    fn receive_tls(&mut self) -> io::Result<bool> {
        let n = self.conn.read_tls(&mut self.sock)?;
        self.conn.process_new_packets().map_err(tls_error)?;
        self.send_tls()?;
        Ok(n > 0)
    }

    /// Is the socket readable (or writable) now, without waiting?
    fn socket_ready(&self, write: bool) -> io::Result<bool> {
        super::tcp::ready(&self.sock, write)
    }
}

/// The TLS handshake over `sock`, verifying the broker as `server_name`, done before it
/// returns: a broker that cannot be trusted never sees an MQTT byte.
pub(crate) fn handshake(
    mut sock: TcpStream,
    server_name: &str,
    options: &TlsOptions,
) -> io::Result<(ClientConnection, TcpStream)> {
    let config = options
        .client_config()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, config_error("server name", e)))?;
    let mut conn = ClientConnection::new(config, name).map_err(tls_error)?;
    sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(unwrap_tls)?;
    }
    Ok((conn, sock))
}

/// rustls reports handshake errors inside `io::Error`s; give them our sentence.
pub(crate) fn unwrap_tls(e: io::Error) -> io::Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls_error(tls.clone()),
        None => e,
    }
}

impl embedded_io::ErrorType for TlsTransport {
    type Error = io::Error;
}

impl embedded_io::Read for TlsTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = self.live()?;
        loop {
            match t.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // The peer closed without close_notify, as brokers do: end of stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match t.receive_tls() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                // A read timeout shows as WouldBlock on Unix: report it as TimedOut.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl embedded_io::Write for TlsTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = self.live()?;
        let n = t.conn.writer().write(buf)?;
        t.send_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let t = self.live()?;
        t.send_tls()?;
        t.sock.flush()
    }
}

impl embedded_io::ReadReady for TlsTransport {
    /// True when decrypted bytes wait, or the socket has records (read without waiting until
    /// a whole one decrypts), or the stream ended.
    fn read_ready(&mut self) -> io::Result<bool> {
        let t = self.live()?;
        loop {
            let state = t.conn.process_new_packets().map_err(tls_error)?;
            if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                return Ok(true);
            }
            if !t.socket_ready(false)? {
                return Ok(false);
            }
            if !t.receive_tls()? {
                return Ok(true); // end of stream: the next read says so
            }
        }
    }
}

impl embedded_io::WriteReady for TlsTransport {
    fn write_ready(&mut self) -> io::Result<bool> {
        self.live()?.socket_ready(true)
    }
}
