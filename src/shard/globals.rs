//! Tables every shard needs to read on the message path but that change rarely: system uids
//! and the person-channel settings and lists of each user (spec http-api §2, §7.4).
//!
//! Shard 0 owns them (v2 keeps system uids on slot 0's leader too): it persists each change in
//! its meta log and broadcasts it; every shard keeps a replica and checks sends locally, so a
//! person-chat send never waits for another shard. Other shards accept clients only after
//! receiving shard 0's snapshot at start-up.

use super::channels::ChannelInfo;
use super::meta::{apply_list, ListKind, ListMode};
use crate::proto::ReasonCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The shard that owns the global tables.
pub const GLOBALS_OWNER: usize = 0;

/// Person-channel state of one user (`channel_id = uid, channel_type = 1`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PersonAcl {
    /// `ban`, `send_ban`, … of the user's person channel.
    pub info: ChannelInfo,
    /// Who may not message this user.
    pub blacklist: BTreeSet<String>,
    /// Who may message this user (enforced when `whitelistOffOfPerson` is false).
    pub whitelist: BTreeSet<String>,
}

/// The replicated tables.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Globals {
    /// Accounts that bypass send permission checks.
    pub system_uids: BTreeSet<String>,
    /// Person-channel state by uid.
    pub persons: HashMap<String, PersonAcl>,
}

impl Globals {
    /// Whether `uid` is a system account (including the built-in system uid).
    pub fn is_system(&self, uid: &str) -> bool {
        uid.is_empty() || uid == super::ids::SYSTEM_UID || self.system_uids.contains(uid)
    }

    /// The uids of one list of a user's person channel (a person channel has no
    /// subscribers).
    pub fn person_list(&self, uid: &str, list: ListKind) -> Vec<String> {
        let Some(acl) = self.persons.get(uid) else {
            return Vec::new();
        };
        match list {
            ListKind::Blacklist => acl.blacklist.iter().cloned().collect(),
            ListKind::Whitelist => acl.whitelist.iter().cloned().collect(),
            ListKind::Subscribers => Vec::new(),
        }
    }

    /// Changes a list of a user's person channel.
    pub fn apply_person_list(
        &mut self,
        uid: &str,
        list: ListKind,
        mode: ListMode,
        uids: &[String],
    ) {
        let acl = self.persons.entry(uid.to_string()).or_default();
        match list {
            ListKind::Blacklist => apply_list(&mut acl.blacklist, mode, uids.iter().cloned()),
            ListKind::Whitelist => apply_list(&mut acl.whitelist, mode, uids.iter().cloned()),
            // A person channel has no subscribers.
            ListKind::Subscribers => {}
        }
    }

    /// Decides whether `from` may message `to` in a person chat; `None` if it may
    /// (spec http-api §2, "Person-channel permission").
    pub fn person_permission(
        &self,
        from: &str,
        to: &str,
        whitelist_off: bool,
    ) -> Option<ReasonCode> {
        if self.is_system(from) || self.is_system(to) {
            return None;
        }
        if let Some(me) = self.persons.get(from) {
            if me.info.send_ban == 1 {
                return Some(ReasonCode::SEND_BAN);
            }
        }
        let acl = self.persons.get(to);
        if let Some(acl) = acl {
            if acl.info.ban == 1 {
                return Some(ReasonCode::BAN);
            }
            if acl.blacklist.contains(from) {
                return Some(ReasonCode::IN_BLACKLIST);
            }
        }
        if !whitelist_off && !acl.is_some_and(|a| a.whitelist.contains(from)) {
            return Some(ReasonCode::NOT_IN_WHITELIST);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_rules() {
        let mut g = Globals::default();
        assert_eq!(g.person_permission("a", "b", true), None);
        assert_eq!(
            g.person_permission("a", "b", false),
            Some(ReasonCode::NOT_IN_WHITELIST)
        );
        g.apply_person_list("b", ListKind::Whitelist, ListMode::Add, &["a".into()]);
        assert_eq!(g.person_permission("a", "b", false), None);
        g.apply_person_list("b", ListKind::Blacklist, ListMode::Add, &["a".into()]);
        assert_eq!(
            g.person_permission("a", "b", true),
            Some(ReasonCode::IN_BLACKLIST)
        );
        g.system_uids.insert("a".into());
        assert_eq!(
            g.person_permission("a", "b", true),
            None,
            "system accounts bypass"
        );
        g.persons.entry("c".into()).or_default().info.send_ban = 1;
        assert_eq!(
            g.person_permission("c", "b", true),
            Some(ReasonCode::SEND_BAN)
        );
    }
}
