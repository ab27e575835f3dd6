//! Payload sealing/opening for SEND and RECV: ties [`ConnCipher`] to the packet fields that
//! `msg_key` covers, so the gateway and test clients cannot get the sign order wrong.
//!
//! Policy (spec §7.5, §11.2): a packet whose setting has NoEncrypt, or a connection without a
//! cipher, carries the plaintext and an empty msg_key (Go-v3 behaviour).

use super::crypto::{ConnCipher, MsgKey};
use super::error::CryptoError;
use super::packet::{Recv, RecvView, Send};
use super::wkstr::WkStr;
use bytes::{Bytes, BytesMut};

fn encrypting(cipher: Option<&ConnCipher>, no_encrypt: bool) -> Option<&ConnCipher> {
    cipher.filter(|_| !no_encrypt)
}

impl RecvView<'_> {
    /// Server side: the ciphertext and msg_key of this RECV for one encrypting connection
    /// (`None`: the connection has no cipher or the message is NoEncrypt, and the plaintext
    /// goes out with an empty msg_key). `payload` holds the plaintext; every other field
    /// (ids, seq, timestamp, from_uid, receiver-side channel_id, setting) must be final, as
    /// msg_key covers them. The ciphertext is split off `scratch`, a reusable buffer.
    pub fn sealed(
        &self,
        cipher: Option<&ConnCipher>,
        scratch: &mut BytesMut,
    ) -> Option<(Bytes, MsgKey)> {
        let c = encrypting(cipher, self.setting.no_encrypt())?;
        c.encrypt_into(self.payload, scratch);
        let ciphertext = scratch.split().freeze();
        let key = c.recv_msg_key(
            self.message_id,
            self.message_seq,
            self.client_msg_no,
            self.timestamp,
            self.from_uid,
            self.channel_id,
            self.channel_type,
            &ciphertext,
        );
        Some((ciphertext, key))
    }
}

impl Recv {
    /// Server side: fills `payload` and `msg_key` for one recipient connection (see
    /// [`RecvView::sealed`]).
    pub fn seal(&mut self, plaintext: &Bytes, cipher: Option<&ConnCipher>, scratch: &mut BytesMut) {
        self.payload = plaintext.clone();
        match self.view().sealed(cipher, scratch) {
            Some((ciphertext, key)) => {
                self.payload = ciphertext;
                self.msg_key = key.to_wkstr();
            }
            None => self.msg_key = WkStr::EMPTY,
        }
    }

    /// Client side: verifies msg_key and returns the plaintext (or the raw payload when not
    /// encrypted).
    pub fn open(&self, cipher: Option<&ConnCipher>) -> Result<Bytes, CryptoError> {
        match encrypting(cipher, self.setting.no_encrypt()) {
            Some(c) => {
                let key = c.recv_msg_key(
                    self.message_id,
                    self.message_seq,
                    &self.client_msg_no,
                    self.timestamp,
                    &self.from_uid,
                    &self.channel_id,
                    self.channel_type,
                    &self.payload,
                );
                if !key.matches(self.msg_key.as_bytes()) {
                    return Err(CryptoError::MsgKeyMismatch);
                }
                c.decrypt(&self.payload)
            }
            None => Ok(self.payload.clone()),
        }
    }
}

impl Send {
    /// Client side: fills `payload` and `msg_key` from `plaintext` (all other fields set first).
    pub fn seal(&mut self, plaintext: &Bytes, cipher: Option<&ConnCipher>, scratch: &mut BytesMut) {
        match encrypting(cipher, self.setting.no_encrypt()) {
            Some(c) => {
                c.encrypt_into(plaintext, scratch);
                self.payload = scratch.split().freeze();
                let key = c.send_msg_key(
                    self.client_seq,
                    &self.client_msg_no,
                    &self.channel_id,
                    self.channel_type,
                    &self.payload,
                );
                self.msg_key = key.to_wkstr();
            }
            None => {
                self.payload = plaintext.clone();
                self.msg_key = WkStr::EMPTY;
            }
        }
    }

    /// Server side: verifies msg_key (error → SENDACK 8) and decrypts (error → SENDACK 9),
    /// see [`CryptoError::reason_code`]. Returns the plaintext to store.
    pub fn open(&self, cipher: Option<&ConnCipher>) -> Result<Bytes, CryptoError> {
        match encrypting(cipher, self.setting.no_encrypt()) {
            Some(c) => {
                let key = c.send_msg_key(
                    self.client_seq,
                    &self.client_msg_no,
                    &self.channel_id,
                    self.channel_type,
                    &self.payload,
                );
                if !key.matches(self.msg_key.as_bytes()) {
                    return Err(CryptoError::MsgKeyMismatch);
                }
                c.decrypt(&self.payload)
            }
            None => Ok(self.payload.clone()),
        }
    }

    /// [`Send::open`] for a SEND the server forwards and then drops: an unencrypted payload is
    /// moved out rather than shared (its buffer's reference count is left alone).
    pub fn take_plaintext(&mut self, cipher: Option<&ConnCipher>) -> Result<Bytes, CryptoError> {
        if encrypting(cipher, self.setting.no_encrypt()).is_none() {
            return Ok(std::mem::take(&mut self.payload));
        }
        self.open(cipher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::{ChannelType, Setting};

    fn cipher() -> ConnCipher {
        ConnCipher::from_key_iv(*b"d8e6474fb0ec4b66", *b"abcdefghijklmnop")
    }

    #[test]
    fn recv_seal_matches_vector_and_opens() {
        let mut r = Recv {
            from_uid: "bob".into(),
            channel_id: "bob".into(),
            channel_type: ChannelType::PERSON,
            client_msg_no: "msg-0100".into(),
            message_id: 1234567890123456790,
            message_seq: 8,
            timestamp: 1700000001,
            ..Recv::default()
        };
        let pt = Bytes::from_static(br#"{"type":1,"content":"hi alice"}"#);
        let mut scratch = BytesMut::new();
        r.seal(&pt, Some(&cipher()), &mut scratch);
        assert_eq!(r.msg_key, "9ce0e1927f08dbcaacdf108ae58fa0e6");
        assert_eq!(
            &r.payload[..],
            b"Rnphe4Azr58H+HwcFJ3iZY3xvtEsug0LX4TEcVLxfgs="
        );
        assert_eq!(r.open(Some(&cipher())).unwrap(), pt);
        r.timestamp += 1;
        assert_eq!(r.open(Some(&cipher())), Err(CryptoError::MsgKeyMismatch));
    }

    #[test]
    fn no_encrypt_passes_plaintext() {
        let mut s = Send {
            setting: Setting::NO_ENCRYPT,
            ..Send::default()
        };
        let pt = Bytes::from_static(b"{}");
        s.seal(&pt, Some(&cipher()), &mut BytesMut::new());
        assert_eq!(s.payload, pt);
        assert!(s.msg_key.is_empty());
        assert_eq!(s.open(Some(&cipher())).unwrap(), pt);
        // Taken: the same plaintext, moved out of the SEND.
        assert_eq!(s.take_plaintext(Some(&cipher())).unwrap(), pt);
        assert!(s.payload.is_empty());
    }

    #[test]
    fn take_plaintext_decrypts_an_encrypted_send() {
        let mut s = Send {
            client_seq: 7,
            client_msg_no: "m-7".into(),
            channel_id: "bob".into(),
            channel_type: ChannelType::PERSON,
            ..Send::default()
        };
        let pt = Bytes::from_static(b"{\"content\":\"hi\"}");
        s.seal(&pt, Some(&cipher()), &mut BytesMut::new());
        assert_ne!(s.payload, pt, "sealed");
        assert_eq!(s.take_plaintext(Some(&cipher())).unwrap(), pt);
        s.client_seq += 1;
        assert_eq!(
            s.take_plaintext(Some(&cipher())),
            Err(CryptoError::MsgKeyMismatch)
        );
    }
}
