//! `digis_ca_file`: extra CA certificates (PEM) to trust beside the bundled roots. Read and
//! checked here, so that a file holding no certificate (reqwest would accept it silently) or a
//! broken one (reqwest says only `builder error`) is one error naming the key, in `doctor` and
//! when the relay starts alike.
use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The key every message names.
pub const KEY: &str = "digis_ca_file";

/// A CA bundle is a few hundred KiB at most: more is not a CA file, and is not read whole.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{KEY}` = {path}: {problem}")]
pub struct CaError {
    pub path: String,
    pub problem: String,
}

/// The certificates of `path`, each checked to be one a TLS client can trust.
pub fn load(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let err = |problem: String| CaError {
        path: path.display().to_string(),
        problem,
    };
    let bytes = read_bounded(path).map_err(|e| err(format!("cannot read it ({e})")))?;
    let certs = parse(&bytes).map_err(err)?;
    Ok(certs)
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB: not a CA file",
            MAX_BYTES / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// Every `CERTIFICATE` section, in our words when there is none or one is broken. The file's
/// own bytes are never quoted (it may be a key put there by mistake).
fn parse(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(bytes).enumerate() {
        match item {
            Ok(cert) => certs.push(cert),
            Err(e) => {
                return Err(format!(
                    "not a valid PEM file: certificate {} is broken ({})",
                    i + 1,
                    pem_problem(&e)
                ))
            }
        }
    }
    if certs.is_empty() {
        return Err(if PrivateKeyDer::from_pem_slice(bytes).is_ok() {
            "holds a private key, not a certificate: give the CA's certificate (-----BEGIN CERTIFICATE-----)".into()
        } else {
            "not a PEM certificate: no -----BEGIN CERTIFICATE----- block found".into()
        });
    }
    // What reqwest does at `build()`, done here so the error can say which certificate.
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        if let Err(e) = roots.add(cert.clone()) {
            return Err(format!(
                "certificate {} is not a valid X.509 certificate ({e})",
                i + 1
            ));
        }
    }
    Ok(certs)
}

pub(crate) fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "its base64 does not decode",
        pem::Error::SectionTooLarge => "too large",
        _ => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_a_key_and_a_broken_block_are_refused_in_our_words() {
        for (text, want) in [
            (
                "hello, I am not a certificate\n",
                "no -----BEGIN CERTIFICATE-----",
            ),
            ("", "no -----BEGIN CERTIFICATE-----"),
            (
                "-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n",
                "base64",
            ),
            ("-----BEGIN CERTIFICATE-----\nMIIB\n", "no END line"),
            (
                "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
                "not a valid X.509",
            ),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
