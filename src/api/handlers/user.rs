//! User endpoints (spec http-api §7).

use super::{body, call_owner, respond};
use crate::api::http::{Request, Response};
use crate::shard::ids::{valid_id, SYSTEM_UID};
use crate::shard::meta::{ListMode, MetaRecord};
use crate::shard::ops::OwnerOp;
use crate::shard::users::DeviceToken;
use crate::shard::Shard;
use serde::Deserialize;
use serde_json::json;

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
    if let Some(acl) = shard.globals.borrow().persons.get(&r.uid) {
        if acl.info.ban == 1 {
            return Response::json_text(200, &br#"{"status":19}"#[..]);
        }
        if acl.info.disband == 1 {
            return Response::json_text(200, &br#"{"status":24}"#[..]);
        }
    }
    let rec = MetaRecord::Token {
        uid: r.uid,
        device_flag: r.device_flag,
        token: DeviceToken {
            token: r.token,
            device_level: r.device_level,
        },
    };
    let owner = shard.meta_owner(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

/// `POST /user/onlinestatus` with a JSON array of uids: one row per live connection
/// (`{"status":200}` for an empty array, as WuKongIM answers).
pub async fn online_status(shard: &Shard, req: &Request) -> Response {
    let uids: Vec<String> = match body(req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    if uids.is_empty() {
        // WuKongIM answers an empty question with plain OK, not an empty array.
        return super::ok();
    }
    let mut by_owner: std::collections::BTreeMap<(u16, usize), Vec<String>> = Default::default();
    let relayed = crate::api::forward::was_relayed(req);
    for u in uids {
        let (node, owner) = shard.owner_of(&u);
        let node = if relayed { shard.node() } else { node };
        by_owner.entry((node, owner)).or_default().push(u);
    }
    let mut rows = Vec::new();
    for ((node, owner), uids) in by_owner {
        if node != shard.node() {
            // Users whose slot another node leads: that node knows their sessions.
            let body = serde_json::to_string(&uids).unwrap_or_default();
            match crate::api::forward::ask_node(shard, node as u64, req, body).await {
                Ok(r) if r.status == 200 => {
                    if let Ok(serde_json::Value::Array(a)) = serde_json::from_slice(&r.body) {
                        rows.extend(a);
                    }
                }
                Ok(r) => return r,
                Err(e) => {
                    return Response::error(503, &format!("node {node}: {e}"))
                        .with_header("Retry-After", "1")
                }
            }
            continue;
        }
        let online = shard
            .inspect(owner, move |s: &Shard| {
                let users = s.users.borrow();
                uids.into_iter()
                    .map(|u| {
                        let devices = users.online_devices(&u);
                        (u, devices)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        for (uid, devices) in online {
            for device_flag in devices {
                rows.push(json!({"uid": uid, "device_flag": device_flag, "online": 1}));
            }
        }
    }
    Response::json(200, &rows)
}

#[derive(Deserialize)]
struct DeviceQuitReq {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    device_flag: i16,
}

/// `POST /user/device_quit`: blank the device's token and disconnect it (`-1` = all).
pub async fn device_quit(shard: &Shard, req: &Request) -> Response {
    let r: DeviceQuitReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.uid.is_empty() {
        return Response::error(400, "uid is required");
    }
    let flags = if r.device_flag < 0 {
        vec![0, 1, 2]
    } else {
        vec![r.device_flag as u8]
    };
    let owner = shard.user_owner(&r.uid);
    respond(call_owner(shard, owner, OwnerOp::DeviceQuit { uid: r.uid, flags }).await)
}

#[derive(Deserialize)]
struct UidsReq {
    #[serde(default)]
    uids: Vec<String>,
}

/// `POST /user/systemuids_add` / `_remove`.
pub async fn system_uids(shard: &Shard, req: &Request, remove: bool) -> Response {
    let r: UidsReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let rec = MetaRecord::SystemUids {
        mode: if remove {
            ListMode::Remove
        } else {
            ListMode::Add
        },
        uids: r.uids,
    };
    let owner = shard.meta_owner(&rec);
    respond(call_owner(shard, owner, OwnerOp::Meta(rec)).await)
}

/// `GET /user/systemuids`: from this shard's replica.
pub fn list_system_uids(shard: &Shard) -> Response {
    let g = shard.globals.borrow();
    Response::json(200, &g.system_uids.iter().collect::<Vec<_>>())
}

/// `POST /user/systemuids_add_to_cache` / `_remove_from_cache` (`{"uids":[…]}`): changes
/// only this node's replica of the system accounts — nothing is stored and no other node is
/// told (the stored list comes back at the next start). Every shard of the node has applied
/// the change when the answer leaves.
pub async fn system_uids_cache(shard: &Shard, req: &Request, remove: bool) -> Response {
    let r: UidsReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let uids: Vec<String> = r.uids.into_iter().filter(|u| !u.is_empty()).collect();
    if uids.is_empty() {
        return super::ok();
    }
    let rec = MetaRecord::SystemUids {
        mode: if remove {
            ListMode::Remove
        } else {
            ListMode::Add
        },
        uids,
    };
    shard
        .inspect_all(move |s: &Shard| rec.apply_global(&mut s.globals.borrow_mut()))
        .await;
    super::ok()
}

#[derive(Deserialize)]
struct PluginNoReq {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    plugin_no: String,
}

/// `POST /user/update_plugin_no {uid, plugin_no}`: binds the user to a plugin (WuKongIM's
/// "AI" users' Receive hook), stored with the user's state like a token (no validation, as
/// in WuKongIM: an empty uid is stored under the empty uid; a body that is not that JSON
/// object is a 400; a storage failure is a 400). Jindou runs no plugins yet: the binding is
/// kept for them and shown in `/user/plugin_no`.
pub async fn update_plugin_no(shard: &Shard, req: &Request) -> Response {
    let r: PluginNoReq = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let rec = MetaRecord::PluginNo {
        uid: r.uid,
        plugin_no: r.plugin_no,
    };
    let owner = shard.meta_owner(&rec);
    match call_owner(shard, owner, OwnerOp::Meta(rec)).await {
        Ok(()) => super::ok(),
        Err(e) => Response::error(400, &e.to_string()),
    }
}

/// `GET /user/plugin_no?uid=` (Jindou): the plugin a user is bound to, `{"uid", "plugin_no"}`
/// (`""` when unbound).
pub async fn plugin_no(shard: &Shard, req: &Request) -> Response {
    let Some(uid) = req.query_param("uid").filter(|u| !u.is_empty()) else {
        return Response::error(400, "uid is required");
    };
    let no = {
        let uid = uid.clone();
        shard
            .inspect(shard.user_owner(&uid), move |s: &Shard| {
                s.users
                    .borrow()
                    .get(&uid)
                    .and_then(|u| u.plugin_no().map(str::to_string))
                    .unwrap_or_default()
            })
            .await
    };
    Response::json(200, &serde_json::json!({"uid": uid, "plugin_no": no}))
}
