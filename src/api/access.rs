//! Who may call the HTTP listeners (spec http-api §1.4, made strict):
//!
//! - **API port.** With a `managerToken`, every request except `GET /health` must carry the
//!   `token` header with it; a JWT never replaces the token there. A JWT, when given, must be
//!   valid and belong to a configured user, and can only narrow what the request may do (its
//!   user's permissions). Without a `managerToken` the API port is open (as in WuKongIM; the
//!   server warns at start-up when it listens beyond loopback like that).
//! - **Manager port.** `/metrics*`, `/web*`, `/manager/login`, `/status`, `/` and `/health` are
//!   open; everything else needs the `token` header or a JWT of a configured user whose
//!   permissions cover the request. With neither a token nor users configured it is open.

use super::http::{Method, Request, Response};
use crate::auth::{secret_eq, verify_jwt, Access, ManagerUser};
use crate::config::Config;

/// Who made a request, for permission checks and the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were needed.
    Anonymous,
    /// The `managerToken`.
    ManagerToken,
    /// A manager user through a JWT.
    User(String),
}

impl Caller {
    /// The caller as the audit log names it.
    pub fn audit_name(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::ManagerToken => "managerToken".into(),
            Caller::User(u) => format!("jwt:{u}"),
        }
    }
}

/// The credentials and users a listener checks requests against.
pub struct Policy<'a> {
    /// `managerToken`, `jwt.*`.
    pub config: &'a Config,
    /// `auth.users`.
    pub users: &'a [ManagerUser],
}

/// The resource a permission names: the first path segment (`/channel/info` → `channel`).
fn resource(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

/// The JWT of `Authorization: Bearer …` (the prefix is optional, as in WuKongIM).
fn bearer(req: &Request) -> Option<&str> {
    req.header("authorization")
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .filter(|v| !v.is_empty())
}

impl Policy<'_> {
    fn token_matches(&self, req: &Request) -> bool {
        let token = self.config.manager_token.as_str();
        !token.is_empty() && req.header("token").is_some_and(|t| secret_eq(t, token))
    }

    /// The configured user a JWT names, if the JWT is valid.
    fn jwt_user(&self, jwt: &str) -> Option<&ManagerUser> {
        let name = verify_jwt(self.config, jwt).ok()?;
        self.users.iter().find(|u| u.name == name)
    }

    /// Checks a request on the API port needing `access`.
    pub fn api_port(&self, req: &Request, access: Access) -> Result<Caller, Response> {
        if matches!(req.method, Method::Get | Method::Head) && req.path == "/health" {
            return Ok(Caller::Anonymous);
        }
        let token_set = !self.config.manager_token.is_empty();
        if token_set && !self.token_matches(req) {
            return Err(Response::empty(401));
        }
        let Some(jwt) = bearer(req) else {
            return Ok(if token_set {
                Caller::ManagerToken
            } else {
                Caller::Anonymous
            });
        };
        let user = self.jwt_user(jwt).ok_or_else(|| Response::empty(401))?;
        if user.allows(resource(&req.path), access) {
            Ok(Caller::User(user.name.clone()))
        } else {
            Err(Response::error(
                403,
                &format!("{} may not {access:?} {}", user.name, req.path),
            ))
        }
    }

    /// Whether a manager-port path needs no credentials.
    pub fn manager_open(path: &str) -> bool {
        path.starts_with("/metrics")
            || path.starts_with("/web")
            || matches!(path, "/manager/login" | "/status" | "/" | "/health")
    }

    /// Checks a request on the manager port.
    pub fn manager_port(&self, req: &Request) -> Result<Caller, Response> {
        if Self::manager_open(&req.path) {
            return Ok(Caller::Anonymous);
        }
        if self.token_matches(req) {
            return Ok(Caller::ManagerToken);
        }
        let unauthorized = |msg: &str| Response::json(401, &serde_json::json!({ "error": msg }));
        if let Some(jwt) = bearer(req) {
            let user = self
                .jwt_user(jwt)
                .ok_or_else(|| unauthorized("token is invalid"))?;
            let access = match req.method {
                Method::Get | Method::Head => Access::Read,
                _ => Access::Write,
            };
            return if user.allows(resource(&req.path), access) {
                Ok(Caller::User(user.name.clone()))
            } else {
                Err(Response::error(
                    403,
                    &format!("{} may not {access:?} {}", user.name, req.path),
                ))
            };
        }
        if req.header("token").is_some() {
            return Err(unauthorized("token is invalid"));
        }
        if self.config.manager_token.is_empty() && self.users.is_empty() {
            // Nothing to check against: open, and warned about at start-up.
            return Ok(Caller::Anonymous);
        }
        Err(unauthorized("Authorization header is required"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{issue_jwt, parse_users};

    fn req(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method,
            path: path.into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Default::default(),
            keep_alive: false,
        }
    }

    fn config(token: &str) -> Config {
        let mut c = Config {
            manager_token: token.into(),
            ..Default::default()
        };
        c.jwt.secret = "test-secret".into();
        c
    }

    #[test]
    fn api_port_needs_the_token_even_with_a_valid_jwt() {
        let c = config("mt");
        let users = parse_users(&["admin:pw:*".into(), "viewer:pw:[*:r]".into()], "m").unwrap();
        let p = Policy {
            config: &c,
            users: &users,
        };
        let (admin, _) = issue_jwt(&c, "admin").unwrap();
        let bearer = format!("Bearer {admin}");
        let sync = |h: &[(&str, &str)]| {
            p.api_port(&req(Method::Post, "/channel/messagesync", h), Access::Read)
        };
        assert_eq!(sync(&[("authorization", &bearer)]).unwrap_err().status, 401);
        assert_eq!(
            sync(&[("authorization", "Bearer mt")]).unwrap_err().status,
            401
        );
        assert_eq!(sync(&[("token", "mt")]).ok(), Some(Caller::ManagerToken));
        assert_eq!(
            sync(&[("token", "mt"), ("authorization", &bearer)]).ok(),
            Some(Caller::User("admin".into()))
        );
        let (viewer, _) = issue_jwt(&c, "viewer").unwrap();
        let vb = format!("Bearer {viewer}");
        let write = p.api_port(
            &req(
                Method::Post,
                "/message/send",
                &[("token", "mt"), ("authorization", &vb)],
            ),
            Access::Write,
        );
        assert_eq!(write.unwrap_err().status, 403, "a JWT narrows");
        assert_eq!(
            p.api_port(&req(Method::Get, "/health", &[]), Access::Open)
                .ok(),
            Some(Caller::Anonymous)
        );
        let login = p.api_port(&req(Method::Post, "/manager/login", &[]), Access::Open);
        assert_eq!(login.unwrap_err().status, 401, "login needs the token too");
        // A JWT of a user no longer configured is refused.
        let (ghost, _) = issue_jwt(&c, "ghost").unwrap();
        let gb = format!("Bearer {ghost}");
        assert_eq!(
            sync(&[("token", "mt"), ("authorization", &gb)])
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn manager_port_takes_the_token_or_a_users_jwt() {
        let c = config("mt");
        let users = parse_users(&["ops:pw:[varz:r]".into()], "m").unwrap();
        let p = Policy {
            config: &c,
            users: &users,
        };
        let get = |path: &str, h: &[(&str, &str)]| p.manager_port(&req(Method::Get, path, h));
        assert_eq!(get("/varz", &[]).unwrap_err().status, 401);
        assert_eq!(get("/varz", &[("token", "no")]).unwrap_err().status, 401);
        assert_eq!(
            get("/varz", &[("token", "mt")]).ok(),
            Some(Caller::ManagerToken)
        );
        let (ops, _) = issue_jwt(&c, "ops").unwrap();
        let b = format!("Bearer {ops}");
        assert_eq!(
            get("/varz", &[("authorization", &b)]).ok(),
            Some(Caller::User("ops".into()))
        );
        assert_eq!(
            get("/connz", &[("authorization", &b)]).unwrap_err().status,
            403
        );
        assert_eq!(get("/metrics", &[]).ok(), Some(Caller::Anonymous));
        // Nothing configured: open; users but no token: a JWT is required.
        let open = config("");
        let none: Vec<ManagerUser> = Vec::new();
        let p = Policy {
            config: &open,
            users: &none,
        };
        assert_eq!(
            p.manager_port(&req(Method::Get, "/varz", &[])).ok(),
            Some(Caller::Anonymous)
        );
        let p = Policy {
            config: &open,
            users: &users,
        };
        assert_eq!(
            p.manager_port(&req(Method::Get, "/varz", &[]))
                .unwrap_err()
                .status,
            401
        );
    }
}
