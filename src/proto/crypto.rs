//! Per-connection payload protection (spec §7): X25519 key agreement, AES-128-CBC/PKCS#7 with a
//! fixed per-connection IV, base64 text on the wire, and the MD5-based `msg_key`.

use super::error::CryptoError;
use super::types::ChannelType;
use super::wkstr::WkStr;
use aes::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use aes::Aes128;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use md5::{Digest, Md5};
use rand::Rng;
use std::fmt;
use x25519_dalek::{PublicKey, StaticSecret};

/// Plaintext bytes encrypted per round: a multiple of both the AES block (16) and the base64
/// group (3), so every full chunk encodes to unpadded base64 and chunks can be concatenated.
const CHUNK: usize = 48 * 16;
const CHUNK_B64: usize = CHUNK / 3 * 4;
const SALT_LEN: usize = 16;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Length of the base64 text `enc()` produces for `plaintext_len` bytes (padded AES + base64).
pub const fn encrypted_len(plaintext_len: usize) -> usize {
    let ct = (plaintext_len / 16 + 1) * 16;
    ct.div_ceil(3) * 4
}

/// The AES state of one connection: key schedule expanded once at handshake, plus the IV.
/// Immutable after construction, so `&self` methods can be used from anywhere.
#[derive(Clone)]
pub struct ConnCipher {
    aes: Aes128,
    key: [u8; 16],
    iv: [u8; 16],
}

impl fmt::Debug for ConnCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnCipher { .. }")
    }
}

impl ConnCipher {
    /// Builds a cipher from the final AES key and IV bytes (spec §7.1 step 5 already applied).
    pub fn from_key_iv(key: [u8; 16], iv: [u8; 16]) -> Self {
        Self {
            aes: Aes128::new(&key.into()),
            key,
            iv,
        }
    }

    /// Derives the connection cipher from the X25519 shared secret and the salt text:
    /// key = first 16 chars of hex(MD5(base64(shared))), IV = first 16 bytes of salt.
    pub fn from_shared_secret(shared: &[u8; 32], salt: &[u8]) -> Result<Self, CryptoError> {
        let iv: [u8; 16] = salt
            .get(..SALT_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(CryptoError::BadSalt)?;
        let mut b64 = [0u8; 44];
        let n = STANDARD
            .encode_slice(shared, &mut b64)
            .map_err(|_| CryptoError::BadPublicKey)?;
        let digest = md5_hex(b64.get(..n).unwrap_or_default());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Ok(Self::from_key_iv(key, iv))
    }

    /// The 16 ASCII key bytes (for tests and diagnostics).
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// The 16 IV bytes (= salt).
    pub fn iv(&self) -> &[u8; 16] {
        &self.iv
    }

    /// Streams `enc(pieces…)` (spec §7.2) as base64 text chunks into `sink`, without allocating.
    fn encrypt_pieces(&self, pieces: &[&[u8]], mut sink: impl FnMut(&[u8])) {
        let mut enc = cbc::Encryptor::<&Aes128>::inner_iv_init(&self.aes, &self.iv.into());
        let mut buf = [0u8; CHUNK];
        let mut b64 = [0u8; CHUNK_B64];
        let mut fill = 0usize;
        for piece in pieces {
            let mut data: &[u8] = piece;
            while !data.is_empty() {
                let take = (CHUNK - fill).min(data.len());
                let (head, tail) = data.split_at(take);
                buf[fill..fill + take].copy_from_slice(head);
                fill += take;
                data = tail;
                if fill == CHUNK {
                    let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut buf);
                    enc.encrypt_blocks(blocks);
                    let n = STANDARD.encode_slice(buf, &mut b64).unwrap_or_default();
                    sink(&b64[..n]);
                    fill = 0;
                }
            }
        }
        // PKCS#7: 1..=16 bytes of value n; fill < CHUNK and CHUNK % 16 == 0, so it fits.
        let pad = 16 - fill % 16;
        buf[fill..fill + pad].fill(pad as u8);
        let end = fill + pad;
        let (blocks, _) = aes::Block::slice_as_chunks_mut(&mut buf[..end]);
        enc.encrypt_blocks(blocks);
        let n = STANDARD
            .encode_slice(&buf[..end], &mut b64)
            .unwrap_or_default();
        sink(&b64[..n]);
    }

    /// Appends `enc(plaintext)` (base64 text) to `out`, reserving the exact length once.
    pub fn encrypt_into(&self, plaintext: &[u8], out: &mut BytesMut) {
        out.reserve(encrypted_len(plaintext.len()));
        self.encrypt_pieces(&[plaintext], |chunk| out.put_slice(chunk));
    }

    /// `enc(plaintext)` as a new buffer; prefer [`encrypt_into`](Self::encrypt_into) in loops.
    pub fn encrypt(&self, plaintext: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(encrypted_len(plaintext.len()));
        self.encrypt_into(plaintext, &mut out);
        out.freeze()
    }

    /// Appends the plaintext of base64 text `b64` to `out`. On error `out` is left as it was.
    pub fn decrypt_into(&self, b64: &[u8], out: &mut BytesMut) -> Result<(), CryptoError> {
        let start = out.len();
        out.resize(start + base64::decoded_len_estimate(b64.len()), 0);
        let result = self.decrypt_tail(b64, out, start);
        match result {
            Ok(len) => {
                out.truncate(start + len);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn decrypt_tail(
        &self,
        b64: &[u8],
        out: &mut BytesMut,
        start: usize,
    ) -> Result<usize, CryptoError> {
        let region = out.get_mut(start..).ok_or(CryptoError::BadBase64)?;
        let n = STANDARD
            .decode_slice(b64, region)
            .map_err(|_| CryptoError::BadBase64)?;
        if n == 0 || n % 16 != 0 {
            return Err(CryptoError::BadPadding);
        }
        let ct = region.get_mut(..n).ok_or(CryptoError::BadPadding)?;
        let dec = cbc::Decryptor::<&Aes128>::inner_iv_init(&self.aes, &self.iv.into());
        dec.decrypt_padded::<Pkcs7>(ct)
            .map(<[u8]>::len)
            .map_err(|_| CryptoError::BadPadding)
    }

    /// Decrypts base64 text into a new buffer.
    pub fn decrypt(&self, b64: &[u8]) -> Result<Bytes, CryptoError> {
        let mut out = BytesMut::new();
        self.decrypt_into(b64, &mut out)?;
        Ok(out.freeze())
    }

    /// `hex(MD5(enc(pieces…)))` without materialising the sign string or its ciphertext.
    fn msg_key_of(&self, pieces: &[&[u8]]) -> MsgKey {
        let mut h = Md5::new();
        self.encrypt_pieces(pieces, |chunk| h.update(chunk));
        MsgKey(hex32(&h.finalize().into()))
    }

    /// SEND msg_key (spec §7.4) over `client_seq, client_msg_no, channel_id, channel_type,
    /// payload_on_wire` (the encrypted base64 text).
    pub fn send_msg_key(
        &self,
        client_seq: u32,
        client_msg_no: &str,
        channel_id: &str,
        channel_type: ChannelType,
        payload_on_wire: &[u8],
    ) -> MsgKey {
        let mut a = Dec::new();
        let mut b = Dec::new();
        self.msg_key_of(&[
            a.fmt_u64(u64::from(client_seq)),
            client_msg_no.as_bytes(),
            channel_id.as_bytes(),
            b.fmt_u64(u64::from(channel_type.0)),
            payload_on_wire,
        ])
    }

    /// RECV msg_key (spec §7.4) over `message_id, message_seq, client_msg_no, timestamp,
    /// from_uid, channel_id (receiver side), channel_type, payload_on_wire`.
    #[allow(clippy::too_many_arguments)]
    pub fn recv_msg_key(
        &self,
        message_id: i64,
        message_seq: u64,
        client_msg_no: &str,
        timestamp: i32,
        from_uid: &str,
        channel_id: &str,
        channel_type: ChannelType,
        payload_on_wire: &[u8],
    ) -> MsgKey {
        let (mut a, mut b, mut c, mut d) = (Dec::new(), Dec::new(), Dec::new(), Dec::new());
        self.msg_key_of(&[
            a.fmt_i64(message_id),
            b.fmt_u64(message_seq),
            client_msg_no.as_bytes(),
            c.fmt_i64(i64::from(timestamp)),
            from_uid.as_bytes(),
            channel_id.as_bytes(),
            d.fmt_u64(u64::from(channel_type.0)),
            payload_on_wire,
        ])
    }
}

/// A computed msg_key: 32 lowercase hex characters, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgKey([u8; 32]);

impl MsgKey {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        // Only ever built from HEX digits.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The hex bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares against a received msg_key without early exit on the first differing byte.
    pub fn matches(&self, received: &[u8]) -> bool {
        if received.len() != 32 {
            return false;
        }
        let diff = self
            .0
            .iter()
            .zip(received)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Copies the key into a wire string for a packet field.
    pub fn to_wkstr(&self) -> WkStr {
        WkStr::copy_from_str(self.as_str())
    }
}

impl fmt::Display for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MsgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgKey({})", self.as_str())
    }
}

/// Result of the server side of the key agreement: the cipher to keep for the connection and
/// the two CONNACK fields.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    /// Cipher for every later SEND/RECV on this connection.
    pub cipher: ConnCipher,
    /// CONNACK `server_key`: base64 of the server's public key.
    pub server_key: WkStr,
    /// CONNACK `salt`: the 16-character IV.
    pub salt: WkStr,
}

/// Decodes a base64 X25519 public key: empty → `ClientKeyEmpty`, bad base64 or < 32 bytes →
/// `BadPublicKey`, longer → first 32 bytes (Go-v2 behaviour).
pub fn decode_public_key(b64: &str) -> Result<PublicKey, CryptoError> {
    if b64.is_empty() {
        return Err(CryptoError::ClientKeyEmpty);
    }
    let raw = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| CryptoError::BadPublicKey)?;
    let key: [u8; 32] = raw
        .get(..32)
        .and_then(|s| s.try_into().ok())
        .ok_or(CryptoError::BadPublicKey)?;
    Ok(PublicKey::from(key))
}

/// Server side of spec §7.1 with a fresh random key pair and salt. Map an error to the CONNACK
/// reason with [`CryptoError::reason_code`] (21 for an empty key, 2 otherwise).
pub fn server_handshake(client_key_b64: &str) -> Result<ServerHandshake, CryptoError> {
    let mut rng = rand::rng();
    let secret: [u8; 32] = rng.random();
    let mut salt = [0u8; SALT_LEN];
    for b in &mut salt {
        *b = rng.sample(rand::distr::Alphanumeric);
    }
    server_handshake_with(client_key_b64, secret, salt)
}

/// Deterministic server handshake from explicit key material (tests, vector §10.1).
pub fn server_handshake_with(
    client_key_b64: &str,
    server_secret: [u8; 32],
    salt: [u8; SALT_LEN],
) -> Result<ServerHandshake, CryptoError> {
    let client_pub = decode_public_key(client_key_b64)?;
    // The salt travels as a text field and both sides use its bytes as the IV.
    let salt_text = std::str::from_utf8(&salt).map_err(|_| CryptoError::BadSalt)?;
    let secret = StaticSecret::from(server_secret);
    let server_pub = PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&client_pub);
    let cipher = ConnCipher::from_shared_secret(shared.as_bytes(), &salt)?;
    Ok(ServerHandshake {
        cipher,
        server_key: WkStr::from(STANDARD.encode(server_pub.as_bytes())),
        salt: WkStr::copy_from_str(salt_text),
    })
}

/// Client side of spec §7.1, for the load generator and test clients.
pub struct ClientHandshake {
    secret: StaticSecret,
    client_key: WkStr,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("client_key", &self.client_key)
            .finish_non_exhaustive()
    }
}

impl Default for ClientHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientHandshake {
    /// A fresh random client key pair.
    pub fn new() -> Self {
        Self::from_secret(rand::rng().random())
    }

    /// A key pair from an explicit private scalar (clamped by X25519), e.g. vector §10.1.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let secret = StaticSecret::from(secret);
        let client_key = WkStr::from(STANDARD.encode(PublicKey::from(&secret).as_bytes()));
        Self { secret, client_key }
    }

    /// The CONNECT `client_key` field.
    pub fn client_key(&self) -> &WkStr {
        &self.client_key
    }

    /// Derives the connection cipher from a successful CONNACK's `server_key` and `salt`.
    pub fn finish(&self, server_key_b64: &str, salt: &str) -> Result<ConnCipher, CryptoError> {
        let server_pub =
            decode_public_key(server_key_b64).map_err(|_| CryptoError::BadPublicKey)?;
        let shared = self.secret.diffie_hellman(&server_pub);
        ConnCipher::from_shared_secret(shared.as_bytes(), salt.as_bytes())
    }
}

fn md5_hex(data: &[u8]) -> [u8; 32] {
    hex32(&Md5::digest(data).into())
}

fn hex32(digest: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0F)];
    }
    out
}

/// Stack buffer for base-10 ASCII of one integer (sign strings, spec §7.4).
struct Dec {
    buf: [u8; 20],
    start: usize,
}

impl Dec {
    fn new() -> Self {
        Self {
            buf: [0; 20],
            start: 20,
        }
    }

    fn fmt_u64(&mut self, mut v: u64) -> &[u8] {
        self.start = self.buf.len();
        loop {
            self.start -= 1;
            self.buf[self.start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        &self.buf[self.start..]
    }

    fn fmt_i64(&mut self, v: i64) -> &[u8] {
        self.fmt_u64(v.unsigned_abs());
        if v < 0 {
            self.start -= 1;
            self.buf[self.start] = b'-';
        }
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_cipher() -> ConnCipher {
        ConnCipher::from_key_iv(*b"d8e6474fb0ec4b66", *b"abcdefghijklmnop")
    }

    #[test]
    fn dec_formats() {
        let mut d = Dec::new();
        assert_eq!(d.fmt_u64(0), b"0");
        assert_eq!(d.fmt_u64(u64::MAX), u64::MAX.to_string().as_bytes());
        assert_eq!(d.fmt_i64(i64::MIN), i64::MIN.to_string().as_bytes());
        assert_eq!(d.fmt_i64(-5), b"-5");
    }

    #[test]
    fn encrypt_matches_sdk_vector() {
        let c = vector_cipher();
        let ct = c.encrypt(br#"{"content":"hello","type":1}"#);
        assert_eq!(&ct[..], b"jugN0VDt7jB/GfinrA3EXZAsLu0Fy5rk0FBLS2GOxyg=");
        assert_eq!(
            &c.decrypt(&ct).unwrap()[..],
            br#"{"content":"hello","type":1}"#
        );
    }

    #[test]
    fn chunked_encryption_equals_one_shot_for_all_sizes() {
        use aes::cipher::KeyIvInit;
        let c = vector_cipher();
        for len in [
            0usize, 1, 15, 16, 17, 47, 48, 767, 768, 769, 1536, 2000, 5000,
        ] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let reference = cbc::Encryptor::<Aes128>::new(&(*c.key()).into(), &(*c.iv()).into())
                .encrypt_padded_vec::<Pkcs7>(&pt);
            let got = c.encrypt(&pt);
            assert_eq!(got.len(), encrypted_len(len));
            assert_eq!(
                &got[..],
                STANDARD.encode(&reference).as_bytes(),
                "len {len}"
            );
            assert_eq!(&c.decrypt(&got).unwrap()[..], &pt[..]);
        }
    }

    #[test]
    fn decrypt_errors() {
        let c = vector_cipher();
        assert_eq!(c.decrypt(b"!!!"), Err(CryptoError::BadBase64));
        assert_eq!(c.decrypt(b""), Err(CryptoError::BadPadding));
        assert_eq!(c.decrypt(b"AAAA"), Err(CryptoError::BadPadding));
        // 16 zero bytes decrypt to garbage padding.
        assert_eq!(
            c.decrypt(STANDARD.encode([0u8; 16]).as_bytes()),
            Err(CryptoError::BadPadding)
        );
        let mut out = BytesMut::from(&b"keep"[..]);
        assert!(c.decrypt_into(b"@@@@", &mut out).is_err());
        assert_eq!(&out[..], b"keep");
    }

    #[test]
    fn msg_key_matches() {
        let k = MsgKey(*b"ef9effa6bf01b430788ad1aa1f1803dc");
        assert!(k.matches(b"ef9effa6bf01b430788ad1aa1f1803dc"));
        assert!(!k.matches(b"ef9effa6bf01b430788ad1aa1f1803dd"));
        assert!(!k.matches(b"ef9e"));
    }

    #[test]
    fn handshake_errors_and_random() {
        assert_eq!(
            server_handshake("").unwrap_err(),
            CryptoError::ClientKeyEmpty
        );
        assert_eq!(
            server_handshake("***").unwrap_err(),
            CryptoError::BadPublicKey
        );
        assert_eq!(
            server_handshake(&STANDARD.encode([9u8; 31])).unwrap_err(),
            CryptoError::BadPublicKey
        );
        let client = ClientHandshake::new();
        let long = STANDARD.encode(
            [
                STANDARD.decode(client.client_key().as_bytes()).unwrap(),
                vec![1, 2, 3],
            ]
            .concat(),
        );
        for key in [client.client_key().as_str(), long.as_str()] {
            let hs = server_handshake(key).unwrap();
            assert_eq!(hs.salt.len(), 16);
            assert!(hs.salt.bytes().all(|b| b.is_ascii_alphanumeric()));
            let cc = client.finish(&hs.server_key, &hs.salt).unwrap();
            assert_eq!(cc.key(), hs.cipher.key());
            assert_eq!(cc.iv(), hs.cipher.iv());
        }
    }
}
