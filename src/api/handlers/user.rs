//! User endpoints (spec http-api §7).

use super::{body, call_owner, respond};
use crate::api::http::{Request, Response};
use crate::shard::api_ops::ApiReq;
use crate::shard::ids::{valid_id, SYSTEM_UID};
use crate::shard::users::DeviceToken;
use crate::shard::Shard;
use serde::Deserialize;

#[derive(Deserialize)]
struct TokenReq {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    device_flag: u8,
    #[serde(default)]
    device_level: u8,
}

/// `POST /user/token`: register or refresh a device token.
pub async fn token(shard: &Shard, req: &Request) -> Response {
    let r: TokenReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() || r.token.is_empty() {
        return Response::error(400, "uid and token are required");
    }
    if !valid_id(&r.uid) || r.uid == SYSTEM_UID {
        return Response::error(400, "uid contains a reserved character or name");
    }
    let owner = shard.user_owner(&r.uid);
    respond(
        call_owner(
            shard,
            owner,
            ApiReq::UserToken {
                uid: r.uid,
                device_flag: r.device_flag,
                token: DeviceToken {
                    token: r.token,
                    device_level: r.device_level,
                },
            },
        )
        .await,
    )
}
