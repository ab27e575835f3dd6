//! TLS for the WSS listener, sans-IO over the connection's own buffers: rustls decrypts what
//! the reader read and encrypts what the connection queues, so the rest of the gateway (and
//! the write loop) is unchanged. The server config is built once and shared read-only.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConnection;
use std::io::{Read, Write};
use std::sync::Arc;

/// Builds the TLS server config from `wssConfig.certFile` / `keyFile` (PEM).
pub fn server_config(cert_file: &str, key_file: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| format!("wssConfig.certFile {cert_file:?}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("wssConfig.certFile {cert_file:?}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "wssConfig.certFile {cert_file:?} holds no certificate"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("wssConfig.keyFile {key_file:?}: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("wssConfig: certificate and key do not fit: {e}"))?;
    Ok(Arc::new(config))
}

/// Most plaintext taken out of TLS per read, so one read cannot grow a buffer without bound.
const MAX_PLAIN_PER_READ: usize = 256 * 1024;

/// One connection's TLS state.
pub struct Tls {
    conn: ServerConnection,
}

impl Tls {
    /// A server-side session with the shared config.
    pub fn new(config: Arc<rustls::ServerConfig>) -> Result<Self, String> {
        ServerConnection::new(config)
            .map(|conn| Self { conn })
            .map_err(|e| e.to_string())
    }

    /// Feeds received TLS bytes; appends the decrypted bytes to `plain` and any TLS records
    /// to send (handshake, alerts) to `wire_out`. Errors mean the connection must close.
    pub fn receive(
        &mut self,
        mut wire_in: &[u8],
        plain: &mut bytes::BytesMut,
        wire_out: &mut bytes::BytesMut,
    ) -> Result<(), String> {
        while !wire_in.is_empty() {
            self.conn
                .read_tls(&mut wire_in)
                .map_err(|e| e.to_string())?;
            let state = self.conn.process_new_packets();
            self.flush(wire_out);
            let state = state.map_err(|e| e.to_string())?;
            let mut left = state.plaintext_bytes_to_read();
            while left > 0 {
                if plain.len() > MAX_PLAIN_PER_READ {
                    return Err("too much plaintext at once".into());
                }
                let start = plain.len();
                plain.resize(start + left, 0);
                let n = self
                    .conn
                    .reader()
                    .read(&mut plain[start..])
                    .map_err(|e| e.to_string())?;
                plain.truncate(start + n);
                left -= n.min(left);
                if n == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Encrypts `plain` into TLS records appended to `wire_out`.
    pub fn send(&mut self, plain: &[u8], wire_out: &mut bytes::BytesMut) -> Result<(), String> {
        self.conn
            .writer()
            .write_all(plain)
            .map_err(|e| e.to_string())?;
        self.flush(wire_out);
        Ok(())
    }

    fn flush(&mut self, wire_out: &mut bytes::BytesMut) {
        let mut w = wire_out_writer(wire_out);
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut w).is_err() {
                break;
            }
        }
    }
}

fn wire_out_writer(buf: &mut bytes::BytesMut) -> impl Write + '_ {
    use bytes::BufMut;
    buf.writer()
}
