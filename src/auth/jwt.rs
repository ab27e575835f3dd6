//! Manager JWTs (spec http-api §9.8): HS256 tokens `/manager/login` hands to `auth.users`, and
//! the secret that signs them. WuKongIM's default secret, `secret_wukongim`, is public: Jindou
//! never signs or verifies with it, but generates a random secret at first start and keeps it
//! in `<rootDir>/jwt.secret` (mode 0600).

use crate::config::Config;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// WuKongIM's default `jwt.secret`, known to everyone: treated as "not configured".
pub const PUBLIC_DEFAULT_SECRET: &str = "secret_wukongim";
/// Where a generated secret is kept, under `rootDir`.
const SECRET_FILE: &str = "jwt.secret";
/// Random bytes in a generated secret (hex-encoded in the file).
const SECRET_BYTES: usize = 32;

/// The claims of a manager JWT.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (`jwt.issuer`).
    pub iss: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// The manager user.
    pub username: String,
}

/// Signs a JWT for `username` (HS256 with `jwt.secret`); returns it with its expiry.
pub fn issue_jwt(config: &Config, username: &str) -> Result<(String, u64), String> {
    usable_secret(config)?;
    let now = crate::runtime::now_millis() / 1000;
    let exp = now + config.jwt.expire.get().as_secs();
    let claims = Claims {
        iss: config.jwt.issuer.clone(),
        exp,
        iat: now,
        username: username.to_string(),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(config.jwt.secret.as_bytes()),
    )
    .map(|t| (t, exp))
    .map_err(|e| e.to_string())
}

/// Verifies a JWT (signature, algorithm, expiry, issuer); returns its username.
pub fn verify_jwt(config: &Config, token: &str) -> Result<String, String> {
    usable_secret(config)?;
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[config.jwt.issuer.as_str()]);
    v.leeway = 0;
    decode::<Claims>(
        token,
        &DecodingKey::from_secret(config.jwt.secret.as_bytes()),
        &v,
    )
    .map(|d| d.claims.username)
    .map_err(|e| e.to_string())
}

/// Refuses to sign or verify with an empty or public secret (start-up replaces both, see
/// [`resolve_jwt_secret`]; this guards every other path to a `Config`).
fn usable_secret(config: &Config) -> Result<(), String> {
    let s = config.jwt.secret.as_str();
    if s.is_empty() || s == PUBLIC_DEFAULT_SECRET {
        return Err("jwt.secret is unset or public".into());
    }
    Ok(())
}

/// The secret to sign and verify manager JWTs with. A configured secret other than the public
/// default is used as is. Otherwise the secret kept in `<root_dir>/jwt.secret` is read, or a
/// random one is generated there at first start (file mode 0600, fsynced) and the fact logged.
pub fn resolve_jwt_secret(configured: &str, root_dir: &Path) -> Result<String, String> {
    if !configured.is_empty() && configured != PUBLIC_DEFAULT_SECRET {
        return Ok(configured.to_string());
    }
    let path = root_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= SECRET_BYTES => return Ok(s.trim().to_string()),
        Ok(_) => return Err(format!("{} is too short to be a secret", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut raw = [0u8; SECRET_BYTES];
    rand::fill(&mut raw);
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, secret.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "jwt.secret is unset or WuKongIM's public default: generated a random secret (set \
         jwt.secret to the same value on every node of a cluster)"
    );
    Ok(secret)
}

/// Creates `path` with mode 0600 (never overwriting), writes `bytes` and makes both durable.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_round_trip_and_forgeries_fail() {
        let mut c = Config::default();
        c.jwt.secret = "s".into();
        let (token, exp) = issue_jwt(&c, "admin").unwrap();
        assert!(exp > 0);
        assert_eq!(verify_jwt(&c, &token).unwrap(), "admin");
        let mut other = c.clone();
        other.jwt.secret = "t".into();
        assert!(verify_jwt(&other, &token).is_err(), "another secret");
        assert!(verify_jwt(&c, "a.b.c").is_err());
        let old = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                iss: c.jwt.issuer.clone(),
                exp: 1_000_000,
                iat: 999_000,
                username: "admin".into(),
            },
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(verify_jwt(&c, &old).is_err(), "expired");
    }

    #[test]
    fn the_public_default_secret_is_replaced_by_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let s1 = resolve_jwt_secret(PUBLIC_DEFAULT_SECRET, dir.path()).unwrap();
        assert_ne!(s1, PUBLIC_DEFAULT_SECRET);
        assert_eq!(s1.len(), 2 * SECRET_BYTES);
        let meta = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(resolve_jwt_secret("", dir.path()).unwrap(), s1, "kept");
        assert_eq!(resolve_jwt_secret("mine", dir.path()).unwrap(), "mine");
        // A token signed with the public default does not verify under the secret in use.
        let mut public = Config::default();
        public.jwt.secret = PUBLIC_DEFAULT_SECRET.into();
        assert!(issue_jwt(&public, "admin").is_err(), "never signs with it");
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                iss: public.jwt.issuer.clone(),
                exp: u64::MAX / 2,
                iat: 0,
                username: "admin".into(),
            },
            &EncodingKey::from_secret(PUBLIC_DEFAULT_SECRET.as_bytes()),
        )
        .unwrap();
        assert!(
            verify_jwt(&public, &forged).is_err(),
            "never verifies with it"
        );
        let mut used = Config::default();
        used.jwt.secret = s1;
        assert!(verify_jwt(&used, &forged).is_err());
    }
}
