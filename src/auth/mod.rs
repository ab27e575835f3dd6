//! Who may call the REST API: the manager token, manager users (`auth.users`) logging in for a
//! JWT (`/manager/login`), and their read/write permissions (spec http-api §1.4, §9.8, §10.4).

use crate::config::Config;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// One permission: a resource (or `*`) and the actions allowed on it (`r`, `w`, `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    /// Resource id or `*`.
    pub resource: String,
    /// Action letters.
    pub actions: String,
}

/// A manager user from `auth.users`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerUser {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
    /// What the user may do.
    pub permissions: Vec<Permission>,
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads only.
    Read,
    /// Changes state.
    Write,
    /// Needs no credentials (health, login).
    Open,
}

impl ManagerUser {
    /// Whether the user may perform `access` on `resource`.
    pub fn allows(&self, resource: &str, access: Access) -> bool {
        let needed = match access {
            Access::Open => return true,
            Access::Read => 'r',
            Access::Write => 'w',
        };
        self.permissions.iter().any(|p| {
            (p.resource == "*" || p.resource == resource)
                && (p.actions.contains('*') || p.actions.contains(needed))
        })
    }

    /// Permissions in the `res:acts,res:acts` form `/manager/login` returns.
    pub fn permissions_text(&self) -> String {
        self.permissions
            .iter()
            .map(|p| format!("{}:{}", p.resource, p.actions))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Parses `auth.users` (`name:password:*` or `name:password:[res:acts,…]`); no users = the
/// implicit `guest:guest:[*:r]`. Errors name the entry.
pub fn parse_users(entries: &[String], manager_uid: &str) -> Result<Vec<ManagerUser>, String> {
    let mut users = Vec::new();
    for entry in entries {
        let user = if let Some(start) = entry.find('[') {
            let end = entry[start..]
                .find(']')
                .map(|e| start + e)
                .ok_or_else(|| format!("auth.users entry {entry:?} has an unclosed ["))?;
            let inner = &entry[start + 1..end];
            let head = format!("{}{}", &entry[..start], &entry[end + 1..]);
            let mut parts = head.split(':').filter(|p| !p.is_empty());
            let (Some(name), Some(password)) = (parts.next(), parts.next()) else {
                return Err(format!("auth.users entry {entry:?} needs name:password"));
            };
            let permissions = inner
                .split(',')
                .filter_map(|p| {
                    let (res, acts) = p.trim().split_once(':')?;
                    Some(Permission {
                        resource: res.trim().to_string(),
                        actions: acts.trim().to_string(),
                    })
                })
                .collect();
            ManagerUser {
                name: name.to_string(),
                password: password.to_string(),
                permissions,
            }
        } else {
            let parts: Vec<&str> = entry.split(':').collect();
            if parts.len() != 3 || parts[2] != "*" {
                return Err(format!(
                    "auth.users entry {entry:?} must be name:password:* or name:password:[res:acts,…]"
                ));
            }
            ManagerUser {
                name: parts[0].to_string(),
                password: parts[1].to_string(),
                permissions: vec![Permission {
                    resource: "*".into(),
                    actions: "*".into(),
                }],
            }
        };
        if user.name == manager_uid {
            return Err(format!(
                "auth.users may not name the manager uid {manager_uid:?}"
            ));
        }
        users.push(user);
    }
    if users.is_empty() {
        users.push(ManagerUser {
            name: "guest".into(),
            password: "guest".into(),
            permissions: vec![Permission {
                resource: "*".into(),
                actions: "r".into(),
            }],
        });
    }
    Ok(users)
}

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
    let now = crate::shard::ids::now_millis() / 1000;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_in_both_forms() {
        let users = parse_users(
            &["admin:pwd:*".into(), "ops:ops:[slotMigrate:rw, *:r]".into()],
            "____manager",
        )
        .unwrap();
        assert!(users[0].allows("message", Access::Write));
        assert!(users[1].allows("message", Access::Read));
        assert!(!users[1].allows("message", Access::Write));
        assert!(users[1].allows("slotMigrate", Access::Write));
        assert_eq!(users[1].permissions_text(), "slotMigrate:rw,*:r");
        assert!(parse_users(&["bad:entry".into()], "m").is_err());
        assert!(parse_users(&["____manager:x:*".into()], "____manager").is_err());
        let guest = parse_users(&[], "m").unwrap();
        assert_eq!(guest[0].name, "guest");
        assert!(!guest[0].allows("x", Access::Write));
    }

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
}
