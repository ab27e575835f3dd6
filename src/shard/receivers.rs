//! Who a message goes to, as the channel owner hands it to the receivers' owners.
//!
//! A person chat's two parties are named by the message's own channel id (`a@b`), so a 1:1
//! message names them by which side they are: no uid `Arc` is cloned on the channel owner and
//! dropped on the receivers' owner (a reference count written from two cores per message, the
//! sender's connection shard being a third), and no list is allocated.

use super::ids::person_parts;
use super::msg::Delivered;
use std::sync::Arc;

/// The receivers of a message.
#[derive(Debug, Clone)]
pub enum Receivers {
    /// These uids (groups, explicit subscribers, system channels).
    Uids(Vec<Arc<str>>),
    /// Parties of the person chat the message's `channel_id` names: [`Receivers::FIRST`],
    /// [`Receivers::SECOND`] or both.
    Person(u8),
}

impl Receivers {
    /// The first party of `a@b` (`a`).
    pub const FIRST: u8 = 0b01;
    /// The second party of `a@b` (`b`).
    pub const SECOND: u8 = 0b10;
    /// Both parties.
    pub const BOTH: u8 = Self::FIRST | Self::SECOND;

    /// Nobody.
    pub fn none() -> Self {
        Receivers::Uids(Vec::new())
    }

    /// The receivers' uids, borrowed from `msg` for a person chat (whose `channel_id` is the
    /// storage id `a@b`; anything else names nobody).
    pub fn iter<'a>(&'a self, msg: &'a Delivered) -> impl Iterator<Item = &'a str> + 'a {
        let (listed, sides): (&[Arc<str>], [Option<&str>; 2]) = match self {
            Receivers::Uids(uids) => (uids, [None, None]),
            Receivers::Person(which) => (
                &[],
                person_parts(msg.channel_id.as_str()).map_or([None, None], |(a, b)| {
                    [
                        (which & Self::FIRST != 0).then_some(a),
                        (which & Self::SECOND != 0).then_some(b),
                    ]
                }),
            ),
        };
        listed
            .iter()
            .map(|u| &**u)
            .chain(sides.into_iter().flatten())
    }

    /// The receivers as owned uids (the cluster's placement and the inter-node wire).
    pub fn into_uids(self, msg: &Delivered) -> Vec<Arc<str>> {
        match self {
            Receivers::Uids(uids) => uids,
            person => person.iter(msg).map(Arc::from).collect(),
        }
    }

    /// How many receivers there are.
    pub fn len(&self, msg: &Delivered) -> usize {
        match self {
            Receivers::Uids(uids) => uids.len(),
            person => person.iter(msg).count(),
        }
    }

    /// Whether there is nobody to deliver to.
    pub fn is_empty(&self, msg: &Delivered) -> bool {
        self.len(msg) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::WkStr;

    fn person(channel_id: &str) -> Delivered {
        Delivered {
            channel_id: WkStr::copy_from_str(channel_id),
            channel_type: 1,
            ..Default::default()
        }
    }

    #[test]
    fn person_sides_are_read_from_the_channel_id() {
        let msg = person("alice@bob");
        let all = |r: &Receivers| r.iter(&msg).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(all(&Receivers::Person(Receivers::BOTH)), ["alice", "bob"]);
        assert_eq!(all(&Receivers::Person(Receivers::FIRST)), ["alice"]);
        assert_eq!(all(&Receivers::Person(Receivers::SECOND)), ["bob"]);
        assert_eq!(all(&Receivers::Person(0)), Vec::<String>::new());
        let owned = Receivers::Person(Receivers::SECOND).into_uids(&msg);
        assert_eq!(owned, vec![Arc::<str>::from("bob")]);
        // Not a person id: nobody, rather than a made-up uid.
        assert!(Receivers::Person(Receivers::BOTH).is_empty(&person("group-1")));
        let listed = Receivers::Uids(vec!["x".into(), "y".into()]);
        assert_eq!(all(&listed), ["x", "y"]);
        assert_eq!(listed.len(&msg), 2);
    }
}
