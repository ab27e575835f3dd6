//! Workload shapes: who connects, who sends to whom.

use crate::engine::{ConnPlan, Plan, SendPlan};

/// `pairs`: P pairs (a_i, b_i), each side sending to the other. Connection 2i is a_i, 2i+1 is
/// b_i, so with two threads every pair spans both threads.
pub fn pairs(prefix: &str, pairs: usize) -> Plan {
    let uid = |i: usize| {
        format!(
            "{prefix}-p{}{}",
            i / 2,
            if i.is_multiple_of(2) { 'a' } else { 'b' }
        )
    };
    Plan {
        conns: (0..pairs * 2)
            .map(|i| {
                let peer = i ^ 1;
                ConnPlan {
                    idx: i as u32,
                    uid: uid(i),
                    send: Some(SendPlan {
                        channel_id: uid(peer),
                        channel_type: 1,
                        targets: vec![peer as u32],
                    }),
                    groups: Vec::new(),
                }
            })
            .collect(),
    }
}

/// Group id of group `g`.
pub fn group_id(prefix: &str, g: usize) -> String {
    format!("{prefix}-g{g}")
}

/// Uid of member `m` of group `g`.
pub fn member_uid(prefix: &str, g: usize, m: usize) -> String {
    format!("{prefix}-g{g}m{m}")
}

/// `group`: `groups` groups of `members`; the first `online` members of each connect and the
/// first `senders` of those send to the group; every other online member must receive.
pub fn group(prefix: &str, groups: usize, online: usize, senders: usize) -> Plan {
    let mut conns = Vec::with_capacity(groups * online);
    for g in 0..groups {
        let base = (g * online) as u32;
        for m in 0..online {
            let idx = base + m as u32;
            let send = (m < senders).then(|| SendPlan {
                channel_id: group_id(prefix, g),
                channel_type: 2,
                targets: (0..online as u32)
                    .map(|o| base + o)
                    .filter(|&o| o != idx)
                    .collect(),
            });
            conns.push(ConnPlan {
                idx,
                uid: member_uid(prefix, g, m),
                send,
                groups: vec![group_id(prefix, g)],
            });
        }
    }
    Plan { conns }
}

/// JSON body of `POST /channel` creating group `g` with all `members`.
pub fn create_group_body(prefix: &str, g: usize, members: usize) -> String {
    let subs: Vec<String> = (0..members).map(|m| member_uid(prefix, g, m)).collect();
    serde_json::json!({
        "channel_id": group_id(prefix, g),
        "channel_type": 2,
        "subscribers": subs,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_send_to_each_other() {
        let p = pairs("t", 3);
        assert_eq!(p.conns.len(), 6);
        assert_eq!(p.senders(), 6);
        assert_eq!(p.fanout(), 1.0);
        let a = &p.conns[2];
        let b = &p.conns[3];
        assert_eq!(a.uid, "t-p1a");
        assert_eq!(b.uid, "t-p1b");
        assert_eq!(a.send.as_ref().unwrap().channel_id, b.uid);
        assert_eq!(b.send.as_ref().unwrap().channel_id, a.uid);
        assert_eq!(a.send.as_ref().unwrap().targets, vec![3]);
        assert_eq!(b.send.as_ref().unwrap().targets, vec![2]);
        assert_eq!(a.send.as_ref().unwrap().channel_type, 1);
        // Two threads: the sides of a pair run on different threads.
        assert!(p.for_thread(0, 2).iter().all(|c| c.idx % 2 == 0));
    }

    #[test]
    fn group_fanout() {
        let p = group("t", 2, 5, 1);
        assert_eq!(p.conns.len(), 10);
        assert_eq!(p.senders(), 2);
        assert_eq!(p.fanout(), 4.0);
        let s = p.conns[5].send.as_ref().unwrap();
        assert_eq!(s.channel_id, "t-g1");
        assert_eq!(s.targets, vec![6, 7, 8, 9]);
        assert!(p.conns[6].send.is_none());
        let body: serde_json::Value = serde_json::from_str(&create_group_body("t", 1, 3)).unwrap();
        assert_eq!(body["channel_type"], 2);
        assert_eq!(body["subscribers"][2], "t-g1m2");
    }
}
