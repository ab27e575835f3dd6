//! The user owner's side of CONNECT: token check, device replacement rules, and the registry
//! of live sessions (which connection on which shard), announced as presence events.

use super::events::Presence;
use super::msg::{Answer, AuthReq, AuthResult, ConnMsg, ConnRef};
use super::users::{sessions_to_replace, Session};
use super::Shard;
use crate::auth::secret_eq;
use crate::proto::ReasonCode;

fn fail(reason: ReasonCode) -> AuthResult {
    AuthResult {
        reason: reason.0,
        device_level: 0,
    }
}

/// Whether a CONNECT consults the datasource's user info first: every uid but the manager's
/// (whose only credential is `managerToken`).
pub fn asks_backend(shard: &Shard, req: &AuthReq) -> bool {
    *req.uid != *shard.ctx.config.manager_uid
}

/// Decides a CONNECT on the uid's owner shard and answers the connection's shard.
pub fn decide(shard: &Shard, id: u64, req: &AuthReq) {
    let result = authorize(shard, req);
    let (node, dst) = (req.conn.node, req.conn.shard as usize);
    shard.route(node, dst, Answer::Auth { id, result }.into());
}

/// Checks a CONNECT on the uid's owner shard and registers the session (spec wkproto §9.1).
/// With the datasource's user info (`datasource.userInfoOn`), a user the backend bans is
/// refused (reason 19), and the backend's token is accepted beside the registered one.
pub fn authorize(shard: &Shard, req: &AuthReq) -> AuthResult {
    let cfg = &shard.ctx.config;
    // The manager uid logs in with managerToken only; the system uid and every system account
    // with a registered token only, whatever `tokenAuthOn` says: they bypass send permissions.
    let privileged = *req.uid == *cfg.manager_uid || shard.globals.borrow().is_system(&req.uid);
    let backend = match &shard.user_source {
        Some(src) if asks_backend(shard, req) => src.cached_user(&req.uid),
        _ => None,
    };
    if backend.as_ref().is_some_and(|b| b.ban) {
        return fail(ReasonCode::BAN);
    }
    let mut users = shard.users.borrow_mut();
    let level = if *req.uid == *cfg.manager_uid {
        if cfg.manager_token.is_empty() || !secret_eq(&req.token, &cfg.manager_token) {
            return fail(ReasonCode::AUTH_FAIL);
        }
        1
    } else {
        let registered = users
            .get(&req.uid)
            .and_then(|u| u.tokens.get(&req.device_flag));
        let by_backend = backend
            .as_ref()
            .filter(|b| !b.token.is_empty() && secret_eq(&req.token, &b.token))
            .map(|b| b.device_level);
        if cfg.token_auth_on || privileged {
            match (registered, by_backend) {
                (Some(t), _) if !t.token.is_empty() && secret_eq(&req.token, &t.token) => {
                    t.device_level
                }
                (_, Some(level)) if !privileged => level,
                _ => return fail(ReasonCode::AUTH_FAIL),
            }
        } else {
            registered
                .map(|t| t.device_level)
                .or(by_backend)
                .unwrap_or(0)
        }
    };
    // Only an accepted CONNECT creates state for its uid.
    let user = users.entry_arc(&req.uid);
    let mut replaced = Vec::new();
    for (conn, notify) in
        sessions_to_replace(&user.sessions, req.device_flag, &req.device_id, level)
    {
        replaced.extend(
            user.sessions
                .iter()
                .find(|s| s.conn == conn)
                .map(|s| (conn, s.device_flag)),
        );
        user.sessions.retain(|s| s.conn != conn);
        shard.route(
            conn.node,
            conn.shard as usize,
            ConnMsg::Kick {
                conn_id: conn.id,
                reason: if notify {
                    ReasonCode::CONNECT_KICK.0
                } else {
                    0
                },
                by_server: false,
            }
            .into(),
        );
    }
    // Most users hold one session: room for exactly one (a Vec's first push reserves four).
    user.sessions.reserve_exact(1);
    user.sessions.push(Session {
        conn: req.conn,
        device_flag: req.device_flag,
        device_id: req.device_id.clone(),
        device_level: level,
    });
    drop(users);
    // The replaced sessions went offline, this one came online.
    for (conn, flag) in replaced {
        announce(shard, &req.uid, flag, false, conn);
    }
    announce(shard, &req.uid, req.device_flag, true, req.conn);
    AuthResult {
        reason: ReasonCode::SUCCESS.0,
        device_level: level,
    }
}

/// Forgets a closed connection on the uid's owner shard.
pub fn unregister(shard: &Shard, uid: &str, conn: ConnRef) {
    let device_flag = {
        let mut users = shard.users.borrow_mut();
        let Some(user) = users.get_mut(uid) else {
            return;
        };
        let flag = user
            .sessions
            .iter()
            .find(|s| s.conn == conn)
            .map(|s| s.device_flag);
        user.sessions.retain(|s| s.conn != conn);
        flag
    };
    if let Some(flag) = device_flag {
        announce(shard, uid, flag, false, conn);
    }
}

/// Announces a session change with the user's session counts after it.
fn announce(shard: &Shard, uid: &str, device_flag: u8, online: bool, conn: ConnRef) {
    let (device_online, total_online) = shard
        .users
        .borrow()
        .get(uid)
        .map(|u| {
            let device = u
                .sessions
                .iter()
                .filter(|s| s.device_flag == device_flag)
                .count();
            (device, u.sessions.len())
        })
        .unwrap_or((0, 0));
    shard.events.presence(
        shard,
        Presence {
            uid,
            device_flag,
            online,
            conn,
            device_online,
            total_online,
        },
    );
}

/// Records a live session the owner did not know (announced by its connection's shard after
/// the uid's slot changed leader): no token check (it passed one when it connected), no kick.
pub fn reregister(shard: &Shard, uid: &str, session: Session) {
    let conn = session.conn;
    let flag = session.device_flag;
    {
        let mut users = shard.users.borrow_mut();
        let user = users.entry(uid);
        if user.sessions.iter().any(|s| s.conn == conn) {
            return;
        }
        user.sessions.reserve_exact(1);
        user.sessions.push(session);
    }
    announce(shard, uid, flag, true, conn);
}

/// Forgets every session held by node `node` (it is gone; its sockets with it).
pub fn drop_node(shard: &Shard, node: u16) {
    let mut gone = Vec::new();
    {
        let mut users = shard.users.borrow_mut();
        for (uid, user) in users.iter_mut() {
            user.sessions.retain(|s| {
                let keep = s.conn.node != node;
                if !keep {
                    gone.push((uid.clone(), s.device_flag, s.conn));
                }
                keep
            });
        }
    }
    for (uid, flag, conn) in gone {
        announce(shard, &uid, flag, false, conn);
    }
}
