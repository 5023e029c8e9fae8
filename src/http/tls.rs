//! HTTPS for the listener (docs/contracts.md, Export, health and metrics): `[export]
//! tls_cert_file` and `tls_key_file`, PEM, served with rustls.
//!
//! The certificate is swapped, never the listener: the server's [`ResolvesServerCert`] hands
//! each handshake the `Arc` it holds now, so a connection in flight (a download) keeps the
//! session it has while new ones get the new certificate. It is reloaded
//! - when the files change: their metadata (size, mtime, ctime, inode) is looked at before each
//!   new connection's handshake — two `stat`s, as Prometheus' exporter-toolkit rereads its
//!   files per connection — so a renewal by certbot or the gym's CA is served at the next
//!   connection with no signal and no watcher thread;
//! - on SIGHUP (`systemctl reload`), whatever the metadata says.
//!
//! A reload that fails (a file half written, a key that does not match the certificate) keeps
//! the previous certificate and says so once per change of the files. At start the same
//! problems are one configuration error naming the key and the file. Key material is never
//! quoted: only which file, and what is wrong with it in our words.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::digis::ca::pem_problem;
use crate::settings::ExportSettings;

pub const CERT_KEY: &str = "export.tls_cert_file";
pub const KEY_KEY: &str = "export.tls_key_file";

/// A certificate chain or key is a few KiB: more is not one, and is not read whole.
const MAX_BYTES: u64 = 1024 * 1024;

/// Why a certificate or key cannot be served, naming the key and the file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: `{key}` = {path}: {problem}")]
pub struct TlsError {
    pub key: &'static str,
    pub path: String,
    pub problem: String,
}

/// The listener's TLS: the acceptor and the certificate it serves, reloadable.
pub struct Tls {
    acceptor: TlsAcceptor,
    certs: Arc<Certs>,
}

/// What the resolver hands out, and what the files looked like when last read.
#[derive(Debug)]
struct Certs {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' metadata when last looked at; held while a reload runs, so a connection
    /// arriving meanwhile waits for the new certificate instead of getting the old one.
    seen: Mutex<Stamp>,
    provider: Arc<CryptoProvider>,
}

/// What tells a file changed without reading it. `None`: its metadata cannot be read (gone,
/// no permission); a change from or to that is a change too.
type Stamp = [Option<FileStamp>; 2];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(unix)]
    ctime: (i64, i64),
}

fn stamp_of(path: &Path) -> Option<FileStamp> {
    // `metadata` follows symlinks: a certbot `live/` link moved to a new file is a change.
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    Some(FileStamp {
        len: m.len(),
        modified: m.modified().ok(),
        #[cfg(unix)]
        inode: (m.dev(), m.ino()),
        #[cfg(unix)]
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

impl Certs {
    fn stamp(&self) -> Stamp {
        [stamp_of(&self.cert_file), stamp_of(&self.key_file)]
    }

    fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        load_pair(&self.cert_file, &self.key_file, &self.provider).map(Arc::new)
    }

    fn swap(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = key;
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

impl Tls {
    /// Reads both files of `[export]`; any problem is one error naming the key and the file.
    pub fn load(export: &ExportSettings) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert_file, key_file) = (&export.tls_cert_file, &export.tls_key_file);
        let stamp = [stamp_of(cert_file), stamp_of(key_file)];
        let first = load_pair(cert_file, key_file, &provider)?;
        let certs = Arc::new(Certs {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            current: RwLock::new(Arc::new(first)),
            seen: Mutex::new(stamp),
            provider: provider.clone(),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError {
                key: CERT_KEY,
                path: export.tls_cert_file.display().to_string(),
                problem: format!("no TLS version available ({e})"),
            })?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        // The listener speaks HTTP/1.1 only (hyper's http1 server): said in the handshake, so a
        // client offering h2 does not try it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certs,
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Before a handshake: reloads the files if their metadata changed since last looked at.
    /// A failure keeps the certificate served now and is logged once for this change.
    pub fn reload_if_changed(&self) {
        let mut seen = self.certs.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.certs.stamp();
        if now == *seen {
            return;
        }
        // Recorded before reading: a file still being written changes again when it is done,
        // and is read again then.
        *seen = now;
        self.apply("the files changed");
    }

    /// SIGHUP: reads the files whatever their metadata says.
    pub fn reload(&self) {
        let mut seen = self.certs.seen.lock().unwrap_or_else(|p| p.into_inner());
        *seen = self.certs.stamp();
        self.apply("SIGHUP");
    }

    fn apply(&self, why: &str) {
        match self.certs.load() {
            Ok(key) => {
                self.certs.swap(key);
                tracing::info!(
                    "TLS certificate reloaded from {} ({why})",
                    self.certs.cert_file.display()
                );
            }
            Err(e) => tracing::warn!(
                "TLS certificate not reloaded ({why}): `{}` = {}: {}; still serving the previous one",
                e.key,
                e.path,
                e.problem
            ),
        }
    }
}

/// The chain of `cert_file` and the key of `key_file`, checked to belong together.
pub fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = load_chain(cert_file)?;
    let key = load_key(key_file)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        let problem = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "does not match the certificate in {} (give the key the certificate was issued for)",
                cert_file.display()
            ),
            _ => "not a private key rustls can use (RSA, ECDSA P-256/P-384 or Ed25519 in PEM)"
                .to_string(),
        };
        TlsError {
            key: KEY_KEY,
            path: key_file.display().to_string(),
            problem,
        }
    })
}

fn read_bounded(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let err = |problem: String| TlsError {
        key,
        path: path.display().to_string(),
        problem,
    };
    // A FIFO or a device would block the open or the read: at start before READY, on a reload
    // the accept path with its lock held. Links are followed (certbot's `live/` files are).
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(err("not a regular file".into())),
        Err(e) => return Err(err(format!("cannot read it ({e})"))),
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| err(format!("cannot read it ({e})")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(err("larger than 1 MiB: not a PEM certificate or key".into()));
    }
    Ok(bytes)
}

/// Every `CERTIFICATE` block of the file, the server's own first.
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_bounded(CERT_KEY, path)?;
    let err = |problem: String| TlsError {
        key: CERT_KEY,
        path: path.display().to_string(),
        problem,
    };
    let mut chain = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        match item {
            Ok(c) => chain.push(c),
            Err(e) => {
                return Err(err(format!(
                    "not a valid PEM file: certificate {} is broken ({})",
                    i + 1,
                    pem_problem(&e)
                )))
            }
        }
    }
    if chain.is_empty() {
        return Err(err(if PrivateKeyDer::from_pem_slice(&bytes).is_ok() {
            "holds a private key, not a certificate: this is export.tls_key_file's file".into()
        } else {
            "not a PEM certificate: no -----BEGIN CERTIFICATE----- block found".into()
        }));
    }
    if let Err(e) = webpki_parse(&chain[0]) {
        return Err(err(format!(
            "the first certificate is not a valid X.509 certificate ({e})"
        )));
    }
    Ok(chain)
}

fn webpki_parse(cert: &CertificateDer<'_>) -> Result<(), String> {
    rustls::server::ParsedCertificate::try_from(cert)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The first private key of the file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_bounded(KEY_KEY, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let problem = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                if CertificateDer::pem_slice_iter(&bytes).any(|c| c.is_ok()) {
                    "holds a certificate, not a private key: this is export.tls_cert_file's file"
                        .to_string()
                } else {
                    "not a PEM private key: no -----BEGIN ... PRIVATE KEY----- block found"
                        .to_string()
                }
            }
            e => format!("not a valid PEM file ({})", pem_problem(&e)),
        };
        TlsError {
            key: KEY_KEY,
            path: path.display().to_string(),
            problem,
        }
    })
}

/// When a DER certificate stops being valid (`notAfter`), for `doctor`. A few lines of DER
/// instead of an X.509 crate: only this one field is needed, and it sits at a fixed place
/// (Certificate → tbsCertificate → [version], serial, signature, issuer, validity).
pub fn not_after(cert: &[u8]) -> Option<DateTime<Utc>> {
    let (0x30, cert, _) = tlv(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xA0 {
        rest = after; // the explicit version
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2; // serial, signature algorithm, issuer
    }
    let (0x30, validity, _) = tlv(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = tlv(validity)?;
    let (tag, time, _) = tlv(after_not_before)?;
    let text = std::str::from_utf8(time).ok()?;
    let full = match tag {
        // UTCTime: YYMMDDHHMMSSZ, years 50-99 in the 1900s (RFC 5280, 4.1.2.5.1).
        0x17 if text.len() == 13 => {
            let yy: u32 = text.get(..2)?.parse().ok()?;
            format!("{}{text}", if yy >= 50 { "19" } else { "20" })
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        0x18 if text.len() == 15 => text.to_string(),
        _ => return None,
    };
    NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// One DER element: its tag, its contents and what follows it.
fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in data.get(2..2 + n)? {
            len = (len << 8) | *b as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, data.get(header..end)?, data.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        dir: tempfile::TempDir,
    }

    impl Pair {
        fn cert(&self) -> PathBuf {
            self.dir.path().join("cert.pem")
        }
        fn key(&self) -> PathBuf {
            self.dir.path().join("key.pem")
        }
    }

    /// A self-signed certificate for localhost valid until the end of 2049, in its own folder.
    fn pair() -> (Pair, rcgen::Certificate, rcgen::KeyPair) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let p = Pair {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(p.cert(), cert.pem()).unwrap();
        std::fs::write(p.key(), key.serialize_pem()).unwrap();
        (p, cert, key)
    }

    fn export(p: &Pair) -> ExportSettings {
        ExportSettings {
            tls_cert_file: p.cert(),
            tls_key_file: p.key(),
            ..ExportSettings::default()
        }
    }

    #[test]
    fn not_after_reads_both_time_forms() {
        let (_p, cert, key) = pair();
        assert_eq!(
            not_after(cert.der()).unwrap().to_rfc3339(),
            "2049-12-31T00:00:00+00:00",
            "UTCTime"
        );
        let mut params = rcgen::CertificateParams::new(vec!["x".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2051, 3, 4);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()).unwrap().to_rfc3339(),
            "2051-03-04T00:00:00+00:00",
            "GeneralizedTime"
        );
        assert_eq!(not_after(b"\x30\x03\x02\x01\x01"), None);
        assert_eq!(not_after(b""), None);
    }

    /// A FIFO as the key file blocked `load` for good (and a reload, the accept path).
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let (p, _, _) = pair();
        let fifo = p.key().with_file_name("fifo.pem");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo only reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = ExportSettings {
            tls_key_file: fifo,
            ..export(&p)
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Tls::load(&e).err().map(|e| e.to_string()));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("loading a FIFO as the key blocked");
        let msg = got.expect("a FIFO cannot be a key");
        assert!(
            msg.contains("export.tls_key_file") && msg.contains("not a regular file"),
            "{msg}"
        );
    }

    #[test]
    fn load_errors_name_the_key_and_file_never_the_contents() {
        let (a, _, _) = pair();
        let (b, _, _) = pair();
        assert!(Tls::load(&export(&a)).is_ok());
        // A key of another certificate.
        let mismatched = ExportSettings {
            tls_key_file: b.key(),
            ..export(&a)
        };
        let e = Tls::load(&mismatched).err().unwrap();
        assert_eq!(e.key, KEY_KEY, "{e}");
        assert!(e.problem.contains("does not match"), "{e}");
        // The files swapped.
        let swapped = ExportSettings {
            tls_cert_file: a.key(),
            tls_key_file: a.cert(),
            ..export(&a)
        };
        let e = Tls::load(&swapped).err().unwrap();
        assert_eq!(e.key, CERT_KEY, "{e}");
        assert!(e.problem.contains("private key, not a certificate"), "{e}");
        assert!(!e.to_string().contains("PRIVATE KEY-----"), "{e}");
        let key_text = std::fs::read_to_string(a.key()).unwrap();
        let middle = key_text.lines().nth(1).unwrap();
        assert!(!e.to_string().contains(middle));
        // Missing, half written, empty.
        let gone = ExportSettings {
            tls_cert_file: a.dir.path().join("nope.pem"),
            ..export(&a)
        };
        let e = Tls::load(&gone).err().unwrap();
        assert_eq!(e.key, CERT_KEY);
        assert!(
            e.to_string().contains("nope.pem") && e.problem.contains("cannot read"),
            "{e}"
        );
        let cert_text = std::fs::read_to_string(a.cert()).unwrap();
        std::fs::write(a.cert(), &cert_text[..cert_text.len() / 2]).unwrap();
        let e = Tls::load(&export(&a)).err().unwrap();
        assert_eq!(e.key, CERT_KEY);
        assert!(e.problem.contains("broken"), "{e}");
        std::fs::write(a.key(), "").unwrap();
        std::fs::write(a.cert(), &cert_text).unwrap();
        let e = Tls::load(&export(&a)).err().unwrap();
        assert_eq!(e.key, KEY_KEY, "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn a_failed_reload_keeps_the_served_certificate() {
        let (a, _, _) = pair();
        let tls = Tls::load(&export(&a)).unwrap();
        let served = || tls.certs.current.read().unwrap().cert[0].clone();
        let first = served();
        tls.reload_if_changed();
        assert_eq!(served(), first, "unchanged files: nothing read");
        // A new certificate with the old key: does not match, the old one stays.
        let (b, _, _) = pair();
        std::fs::copy(b.cert(), a.cert()).unwrap();
        tls.reload_if_changed();
        assert_eq!(served(), first);
        // Its key arrives: both belong together, the new one is served.
        std::fs::copy(b.key(), a.key()).unwrap();
        tls.reload_if_changed();
        let second = served();
        assert_ne!(second, first);
        assert_eq!(second, load_chain(&b.cert()).unwrap()[0]);
        // SIGHUP reads again even with the same metadata.
        tls.reload();
        assert_eq!(served(), second);
    }
}
