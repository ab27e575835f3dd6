//! `POST /manager/login`: a manager user trades name and password for a JWT (spec §9.8). With no
//! `auth.users` configured nobody can log in (there is no implicit guest). Attempts are limited
//! per client address by the listener (`LOGIN_RATE_PER_MIN`).

use super::body;
use crate::api::http::{Request, Response};
use crate::api::ApiState;
use crate::auth::{issue_jwt, secret_eq};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Checks `auth.users` and returns `{username, token, exp, permissions}`.
pub fn login(api: &ApiState, req: &Request) -> Response {
    let l: Login = match body(req) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if l.username.is_empty() || l.password.is_empty() {
        return Response::error(400, "username and password are required");
    }
    let cfg = &api.shard.ctx.config;
    if api.users.is_empty() {
        return Response::error(400, "manager login is off: no auth.users are configured");
    }
    // Every user's password is compared (in constant time), so timing tells nothing about
    // which names exist.
    let user = api
        .users
        .iter()
        .filter(|u| secret_eq(&l.password, &u.password))
        .fold(None, |found, u| {
            found.or((u.name == l.username).then_some(u))
        });
    let Some(user) = user else {
        return Response::error(400, "wrong username or password");
    };
    match issue_jwt(cfg, &user.name) {
        Ok((token, exp)) => Response::json(
            200,
            &json!({
                "username": user.name,
                "token": token,
                "exp": exp,
                "permissions": user.permissions_text(),
            }),
        ),
        Err(e) => Response::error(400, &format!("cannot sign a token: {e}")),
    }
}
