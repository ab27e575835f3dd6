//! Connection admin (spec wukongim-2.2.5 §3.5): `POST /conn/kick` and `POST /conn/remove`,
//! on the API and the manager port.

use super::body;
use crate::api::http::{Request, Response};
use crate::proto::ReasonCode;
use crate::shard::msg::ConnMsg;
use crate::shard::Shard;
use serde::Deserialize;

#[derive(Deserialize)]
struct ConnJson {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    conn_id: i64,
    #[serde(default)]
    node_id: u64,
    #[serde(default)]
    op_node_id: u64,
}

/// `POST /conn/kick` (`kick`: DISCONNECT reason 12, then close) and `/conn/remove` (close
/// at once, no DISCONNECT): `{uid, conn_id, node_id, op_node_id}`. `conn_id` is the `id`
/// `/connz` lists; `node_id` (0: this node) holds the socket and `op_node_id` (0: this node)
/// runs the call — another node gets the whole call, an unknown one is a 400. A connection
/// that is not there, or belongs to another uid, is left alone (OK).
pub async fn close(shard: &Shard, req: &Request, kick: bool) -> Response {
    let r: ConnJson = match body(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if r.conn_id <= 0 {
        return Response::error(400, "conn_id is required");
    }
    let me = u64::from(shard.node());
    let target = [r.op_node_id, r.node_id]
        .into_iter()
        .find(|&n| n != 0 && n != me);
    if let Some(node) = target {
        if crate::api::forward::was_relayed(req) {
            return Response::error(400, &format!("node {node} not found"));
        }
        let body = String::from_utf8_lossy(&req.body).into_owned();
        return match crate::api::forward::ask_node(shard, node, req, body).await {
            Ok(resp) => resp,
            Err(_) => Response::error(400, &format!("node {node} not found")),
        };
    }
    let conn_id = r.conn_id as u64;
    let shards = shard.ctx.slots.shards() as u64;
    let (dst, local_id) = (
        conn_id % crate::runtime::SLOT_COUNT as u64,
        conn_id / crate::runtime::SLOT_COUNT as u64,
    );
    if dst >= shards || r.uid.is_empty() {
        return super::ok();
    }
    let uid = r.uid.clone();
    let found = shard
        .inspect(dst as usize, move |s: &Shard| {
            s.conn_view().is_some_and(|v| {
                v.rows(&uid)
                    .iter()
                    .any(|row| row.id == conn_id && row.uid == uid)
            })
        })
        .await;
    if found {
        let reason = if kick { ReasonCode::CONNECT_KICK.0 } else { 0 };
        shard.route(
            shard.node(),
            dst as usize,
            ConnMsg::Kick {
                conn_id: local_id,
                reason,
                by_server: true,
            }
            .into(),
        );
    }
    super::ok()
}
