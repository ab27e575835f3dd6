//! Authentication of the links between nodes with `cluster.secret`, a key every member
//! shares: each side of a new connection proves it holds the key by answering the other's
//! random nonce with an HMAC-SHA256 over it (the key itself never crosses the wire, and a
//! recorded proof does not open another connection). A node without the key cannot link,
//! join, vote or inject frames. With no secret configured on either side the links are
//! unauthenticated (a warning at start names the risk); a secret on one side only is refused.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;

/// Bytes of a hello's nonce.
pub const NONCE_LEN: usize = 16;
/// Bytes of a proof.
pub const PROOF_LEN: usize = 32;
/// Domain separation: a proof made for something else never passes here.
const LABEL: &[u8] = b"jindou cluster link v1";

/// The shared key (never printed).
#[derive(Clone, Default)]
pub struct Secret(Option<Arc<[u8]>>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "Secret(set)"
        } else {
            "Secret(none)"
        })
    }
}

impl Secret {
    /// `cluster.secret` (empty: none).
    pub fn new(key: &str) -> Secret {
        Secret((!key.is_empty()).then(|| Arc::from(key.as_bytes())))
    }

    /// Whether links are authenticated.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    fn mac(&self, nonce: &[u8; NONCE_LEN], prover: u64) -> Option<Hmac<Sha256>> {
        let key = self.0.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        mac.update(LABEL);
        mac.update(nonce);
        mac.update(&prover.to_le_bytes());
        Some(mac)
    }

    /// Node `prover`'s answer to the nonce `nonce` its peer sent.
    pub fn prove(&self, nonce: &[u8; NONCE_LEN], prover: u64) -> [u8; PROOF_LEN] {
        self.mac(nonce, prover)
            .map(|m| m.finalize().into_bytes().into())
            .unwrap_or([0; PROOF_LEN])
    }

    /// Whether `proof` is node `prover`'s answer to the nonce `nonce` (constant time).
    pub fn check(&self, nonce: &[u8; NONCE_LEN], prover: u64, proof: &[u8]) -> bool {
        self.mac(nonce, prover)
            .is_some_and(|m| m.verify_slice(proof).is_ok())
    }
}

/// A fresh random nonce.
pub fn nonce() -> [u8; NONCE_LEN] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_need_the_key_the_nonce_and_the_prover() {
        let s = Secret::new("k1");
        let n = nonce();
        let p = s.prove(&n, 1001);
        assert!(s.check(&n, 1001, &p));
        assert!(!Secret::new("k2").check(&n, 1001, &p), "another key");
        assert!(!s.check(&n, 1002, &p), "another prover");
        let mut other = n;
        other[0] ^= 1;
        assert!(!s.check(&other, 1001, &p), "another nonce");
        assert!(!s.check(&n, 1001, &p[..31]), "a short proof");
        assert!(
            !Secret::new("").check(&n, 1001, &p),
            "no key checks nothing"
        );
        assert_eq!(format!("{:?}", s), "Secret(set)", "never printed");
    }
}
