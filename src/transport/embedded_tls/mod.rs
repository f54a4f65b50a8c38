//! TLS 1.3 for `no_std` (feature `embedded-tls`): [`TlsLink`] runs embedded-tls 0.19 over any
//! blocking `embedded_io` stream — a W5500 socket, a `TcpTransport` — and is itself a
//! stream the blocking driver takes.
//!
//! ```no_run
//! # use umqtt::transport::embedded_tls::{CryptoRngCore, MAX_RECORD, NoClock, TlsLink, TlsLinkOptions};
//! # use umqtt::{Blocking, Client, Clock, Event};
//! # fn run<S: embedded_io::Read + embedded_io::Write>(
//! #     socket: S, rng: impl CryptoRngCore, client: Client<&mut [u8]>, clock: impl Clock,
//! #     ca_der: &[u8],
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let (mut read_record, mut write_record) = ([0; MAX_RECORD], [0; MAX_RECORD]);
//! let options = TlsLinkOptions::new("broker.example", ca_der);
//! let io = TlsLink::connect::<NoClock>(socket, &options, rng, &mut read_record, &mut write_record)
//!     .map_err(|e| format!("{e:?}"))?;
//! let mut mqtt = Blocking::new(client, io, clock, |_: Event<'_>| {});
//! # Ok(()) }
//! ```
//!
//! What it checks, in `no_std` (embedded-tls's own verifier, feature `rustpki`, with checks
//! of ours around it):
//!
//! - the chain: the certificates the broker sends, each signed by the next and the last by
//!   **your CA certificate** (DER; one CA, no system roots), ECDSA P-256; every one after the
//!   broker's own must be a CA certificate (basicConstraints cA=TRUE, and keyCertSign when it
//!   has a keyUsage extension), so a device's client certificate cannot vouch for a broker;
//! - the key: the broker's certificate key signed this handshake (CertificateVerify); a
//!   handshake without that signature is refused;
//! - the name: a broker certificate with subject alternative names must have a DNS name that
//!   matches the host you asked for (`*.example.com` matches one label), whatever its common
//!   name says; only a certificate without alternative names is matched by its common name.
//!   embedded-tls reads just the first three DNS names, so one that matches further down is
//!   refused unless the common name matches too. An IPv4 address as the host must be one of
//!   the certificate's IP addresses and, since embedded-tls matches DNS names and the common
//!   name only, its common name as well;
//! - the purpose: a broker certificate with an extendedKeyUsage extension must allow TLS
//!   server authentication (or any purpose): a device's clientAuth certificate that carries
//!   the broker's name is refused;
//! - critical extensions: a certificate with a critical extension not checked here (a CA's
//!   nameConstraints, say) is refused rather than trusted past it;
//! - the validity period, only with a clock: give a [`TlsClock`] type whose `now()` says the
//!   Unix time (from an RTC or SNTP); with [`NoClock`] an expired certificate is accepted.
//!
//! Not checked: path length constraints, that each issuer's name matches its signer's
//! subject (the signatures are checked), revocation.
//! A failure ends the handshake before any MQTT byte is written: `InvalidCertificate` for
//! every failure of the chain or the name (it cannot say which check failed),
//! `InvalidHandshake` when the broker's messages come out of order or it never proved it
//! holds its key. Client certificates (mutual TLS): [`TlsLinkOptions::client_auth`] with a
//! P-256 key.
//!
//! Only `TLS_AES_128_GCM_SHA256` with P-256 key exchange: OpenSSL (mosquitto), rustls and the
//! hosted brokers offer it. Buffers are the caller's: the read record buffer must hold the
//! largest record the broker sends — 16,640 bytes ([`MAX_RECORD`]) unless you know better —
//! and the write record buffer bounds the records we send (at least the handshake, ~1 KiB).
//! embedded-tls keeps the server's certificate (up to [`CERT_SIZE`] bytes) during the
//! handshake, on the stack.
//!
//! Timeouts: the driver learns "no data yet" from a read that times out (the W5500 socket's
//! 100 ms). [`TlsLink`] lets that through only between records; inside a record it waits on
//! (a timeout there would lose the record's first bytes), up to [`MID_RECORD_TIMEOUTS`]
//! timeouts in a row, after which the link is broken (`ErrorKind::BrokenPipe`).

mod verify;

use embedded_io::{Error as _, ErrorKind, ErrorType, Read, Write};
use embedded_tls::blocking::{Aes128GcmSha256, TlsConfig, TlsConnection, TlsContext};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{Certificate, CryptoProvider, SignatureScheme, TlsVerifier};
use p256::ecdsa::{DerSignature, SigningKey};

use p256::pkcs8::DecodePrivateKey;
use verify::Checked;

pub use embedded_tls::{CryptoRngCore, NoClock, TlsClock, TlsError};

/// The largest TLS record a broker may send: 16 KiB of data and the 256-byte allowance.
pub const MAX_RECORD: usize = 16_640;

/// Room for the broker's certificate chain during the handshake.
pub const CERT_SIZE: usize = 4_096;

/// Read timeouts in a row tolerated inside one record before the link counts as broken.
pub const MID_RECORD_TIMEOUTS: u16 = 100;

/// Who the broker must be, and who we are.
#[derive(Debug, Clone, Copy)]
pub struct TlsLinkOptions<'a> {
    server_name: &'a str,
    ca_der: &'a [u8],
    client: Option<(&'a [u8], &'a [u8])>,
}

impl<'a> TlsLinkOptions<'a> {
    /// A broker named `server_name` (SNI and the name its certificate must carry), whose
    /// chain ends at the CA certificate `ca_der` (DER).
    pub fn new(server_name: &'a str, ca_der: &'a [u8]) -> Self {
        TlsLinkOptions {
            server_name,
            ca_der,
            client: None,
        }
    }

    /// Mutual TLS: our certificate (DER) and its P-256 private key (DER, PKCS#8 or SEC1).
    pub fn client_auth(mut self, cert_der: &'a [u8], key_der: &'a [u8]) -> Self {
        self.client = Some((cert_der, key_der));
        self
    }
}

/// What embedded-tls reads from: the transport, with timeouts let through only between
/// records (it follows the record framing of the bytes it passes on).
#[derive(Debug)]
struct Framed<S> {
    inner: S,
    /// Header bytes of the current record seen so far (0–5), and the header itself.
    header: [u8; 5],
    seen: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
}

impl<S> Framed<S> {
    fn between_records(&self) -> bool {
        self.seen == 0 && self.body_left == 0
    }

    /// Accounts for `data`, just read (never past the current record's end).
    fn account(&mut self, data: &[u8]) {
        if self.seen < self.header.len() {
            for (slot, b) in self.header.iter_mut().skip(self.seen).zip(data) {
                *slot = *b;
            }
            self.seen = (self.seen + data.len()).min(self.header.len());
            if self.seen == self.header.len() {
                let [.., hi, lo] = self.header;
                self.body_left = usize::from(u16::from_be_bytes([hi, lo]));
                if self.body_left == 0 {
                    self.seen = 0;
                }
            }
        } else {
            self.body_left = self.body_left.saturating_sub(data.len());
            if self.body_left == 0 {
                self.seen = 0;
            }
        }
    }
}

// embedded-tls keeps only an error's kind: so does `Framed` (a record the broker left
// unfinished is `BrokenPipe`).
impl<S> ErrorType for Framed<S> {
    type Error = ErrorKind;
}

impl<S: Read> Read for Framed<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let limit = if self.seen < self.header.len() {
            self.header.len() - self.seen
        } else {
            self.body_left
        };
        let len = buf.len().min(limit);
        let buf = buf.get_mut(..len).unwrap_or_default();
        let mut timeouts = 0;
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.account(buf.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::TimedOut && !self.between_records() => {
                    timeouts += 1;
                    if timeouts >= MID_RECORD_TIMEOUTS {
                        return Err(ErrorKind::BrokenPipe);
                    }
                }
                Err(e) => return Err(e.kind()),
            }
        }
    }
}

impl<S: Write> Write for Framed<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).map_err(|e| e.kind())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().map_err(|e| e.kind())
    }
}

/// The verifier: embedded-tls's, with our checks around it.
type Verifier<'a, C> = Checked<CertVerifier<'a, Aes128GcmSha256, C, CERT_SIZE>>;

/// embedded-tls's crypto provider: the caller's RNG, the verifier (ours to ask afterwards
/// whether the broker proved its key), our key.
struct Provider<'a, 'v, R, C: TlsClock> {
    rng: R,
    verifier: &'v mut Verifier<'a, C>,
    client: Option<(&'a [u8], &'a [u8])>,
}

impl<R: CryptoRngCore, C: TlsClock> CryptoProvider for Provider<'_, '_, R, C> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    // Without a verifier embedded-tls skips verification: this provider always has one.
    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut *self.verifier)
    }

    fn signer(
        &mut self,
    ) -> Result<(impl signature::SignerMut<DerSignature>, SignatureScheme), TlsError> {
        let (_, key) = self.client.ok_or(TlsError::InvalidPrivateKey)?;
        let key = p256::SecretKey::from_pkcs8_der(key)
            .or_else(|_| p256::SecretKey::from_sec1_der(key))
            .map_err(|_| TlsError::InvalidPrivateKey)?;
        Ok((
            SigningKey::from(&key),
            SignatureScheme::EcdsaSecp256r1Sha256,
        ))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        self.client.map(|(cert, _)| Certificate::X509(cert))
    }
}

/// A TLS 1.3 connection over the stream `S`: `embedded_io::{Read, Write}` for the blocking
/// driver. See the [module](self) documentation for what is verified and the buffers.
pub struct TlsLink<'a, S: Read + Write> {
    tls: TlsConnection<'a, Framed<S>, Aes128GcmSha256>,
}

impl<'a, S: Read + Write> TlsLink<'a, S> {
    /// Completes a TLS handshake over `socket` (connected), verifying the broker as
    /// `options` says, with `C` as the clock for validity periods ([`NoClock`]: not checked).
    /// `read_record` holds a whole incoming record ([`MAX_RECORD`]), `write_record` an
    /// outgoing one. Nothing but the handshake is written before it succeeds.
    pub fn connect<C: TlsClock>(
        socket: S,
        options: &TlsLinkOptions<'a>,
        rng: impl CryptoRngCore,
        read_record: &'a mut [u8],
        write_record: &'a mut [u8],
    ) -> Result<Self, TlsError> {
        let framed = Framed {
            inner: socket,
            header: [0; 5],
            seen: 0,
            body_left: 0,
        };
        let mut tls = TlsConnection::new(framed, read_record, write_record);
        let config = TlsConfig::new().with_server_name(options.server_name);
        let mut verifier: Verifier<'a, C> =
            Checked::new(CertVerifier::new(Certificate::X509(options.ca_der)));
        let provider = Provider {
            rng,
            verifier: &mut verifier,
            client: options.client,
        };
        tls.open(TlsContext::new(&config, provider))?;
        // embedded-tls completes a handshake on the server's Finished alone: without the
        // certificate and its signature over the handshake, anyone on the path could end it.
        if !verifier.authenticated() {
            return Err(TlsError::InvalidHandshake);
        }
        Ok(TlsLink { tls })
    }

    /// Sends TLS close_notify and returns the stream.
    pub fn close(self) -> Result<S, (S, TlsError)> {
        match self.tls.close() {
            Ok(framed) => Ok(framed.inner),
            Err((framed, e)) => Err((framed.inner, e)),
        }
    }
}

impl<S: Read + Write> ErrorType for TlsLink<'_, S> {
    type Error = TlsError;
}

impl<S: Read + Write> Read for TlsLink<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        self.tls.read(buf)
    }
}

impl<S: Read + Write> Write for TlsLink<'_, S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.tls.write(buf)
    }

    fn flush(&mut self) -> Result<(), TlsError> {
        self.tls.flush()
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Hands out scripted reads: bytes, or a timeout.
    struct Script(std::vec::Vec<Option<std::vec::Vec<u8>>>);

    impl ErrorType for Script {
        type Error = ErrorKind;
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            if self.0.is_empty() {
                return Err(ErrorKind::TimedOut);
            }
            match self.0.remove(0) {
                None => Err(ErrorKind::TimedOut),
                Some(mut bytes) => {
                    let n = bytes.len().min(buf.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                    if n < bytes.len() {
                        self.0.insert(0, Some(bytes.split_off(n)));
                    }
                    Ok(n)
                }
            }
        }
    }

    fn framed(reads: std::vec::Vec<Option<std::vec::Vec<u8>>>) -> Framed<Script> {
        Framed {
            inner: Script(reads),
            header: [0; 5],
            seen: 0,
            body_left: 0,
        }
    }

    #[test]
    fn a_timeout_between_records_is_let_through_and_one_inside_is_waited_out() {
        let record = std::vec![23, 3, 3, 0, 3, 7, 8, 9];
        let mut f = framed(std::vec![
            None,
            Some(record[..2].to_vec()),
            None,
            Some(record[2..6].to_vec()),
            None,
            None,
            Some(record[6..].to_vec()),
            None,
        ]);
        let mut buf = [0u8; 16];
        // Idle between records: the driver hears "no data yet".
        assert_eq!(f.read(&mut buf), Err(ErrorKind::TimedOut));
        let mut got = std::vec::Vec::new();
        while got.len() < record.len() {
            let n = f.read(&mut buf).expect("no timeout inside a record");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, record);
        // Never read past the record's end; idle again afterwards.
        assert!(f.between_records());
        assert_eq!(f.read(&mut buf), Err(ErrorKind::TimedOut));
    }

    #[test]
    fn a_record_left_unfinished_breaks_the_link() {
        let mut reads = std::vec![Some(std::vec![23, 3, 3, 0, 10, 1])];
        reads.extend((0..MID_RECORD_TIMEOUTS).map(|_| None));
        let mut f = framed(reads);
        let mut buf = [0u8; 16];
        assert_eq!(f.read(&mut buf[..5]), Ok(5));
        assert_eq!(f.read(&mut buf), Ok(1));
        assert_eq!(f.read(&mut buf), Err(ErrorKind::BrokenPipe));
    }
}
