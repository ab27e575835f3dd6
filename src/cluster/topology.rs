//! Who is in the cluster and which nodes replicate each slot: the members of
//! `cluster.initNodes`, and a fixed rotation of `cluster.slotReplicaCount` replicas per slot
//! whose first node is the slot's preferred leader (so leaders spread evenly).

use crate::config::Cluster as ClusterConfig;

/// A node's id (`cluster.nodeId`, at most 1023: it is part of every message id).
pub type NodeId = u64;

/// One member: its id and where its shards listen for other nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Node id.
    pub id: NodeId,
    /// Host other nodes dial.
    pub host: String,
    /// Base port: shard `k` of the node listens on `port + k`.
    pub port: u16,
}

impl Member {
    /// `host:port` of the node's shard `k`.
    pub fn shard_addr(&self, k: usize) -> String {
        format!("{}:{}", self.host, self.port as usize + k)
    }
}

/// The members and the slot layout. The layout is configured identically on every node
/// (checked when links open); the member list starts as `cluster.initNodes` and then follows
/// the configuration group (nodes joining through `cluster.seed`, nodes removed).
#[derive(Clone, Debug)]
pub struct Topology {
    /// This node.
    pub me: NodeId,
    /// Where this node listens for other nodes.
    pub me_member: Member,
    /// Every member, sorted by id (empty while a joining node waits for the configuration).
    pub members: Vec<Member>,
    /// Replication groups.
    pub slot_count: u16,
    /// `cluster.slotReplicaCount` (a slot has at most as many replicas as there are members).
    pub replicas_wanted: usize,
    /// The member to ask for admission (`cluster.seed`), for a node not yet a member.
    pub seed: Option<Member>,
    /// `cluster.secret`: the key links are authenticated with.
    pub secret: super::auth::Secret,
}

/// Parses one `initNodes` entry: `id@host[:port]` (an optional `tcp://` before the host; a
/// missing port takes `default_port`).
pub fn parse_member(entry: &str, default_port: u16) -> Result<Member, String> {
    let (id, addr) = entry
        .split_once('@')
        .ok_or_else(|| format!("cluster.initNodes entry {entry:?} is not id@host[:port]"))?;
    let id: NodeId = id
        .trim()
        .parse()
        .map_err(|_| format!("cluster.initNodes entry {entry:?} has a non-numeric node id"))?;
    let addr = addr.trim().trim_start_matches("tcp://");
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (
            h.to_string(),
            p.parse()
                .map_err(|_| format!("cluster.initNodes entry {entry:?} has a bad port"))?,
        ),
        _ => (addr.to_string(), default_port),
    };
    if host.is_empty() {
        return Err(format!("cluster.initNodes entry {entry:?} has no host"));
    }
    Ok(Member { id, host, port })
}

/// The port of a `tcp://host:port` address.
fn port_of(addr: &str) -> Option<u16> {
    addr.trim_start_matches("tcp://")
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

impl Topology {
    /// The cluster of `cfg`, or `None` in single-node mode. Refuses what cannot work: this
    /// node missing from `initNodes`, two members with one id, a role other than `replica`.
    /// With `cluster.seed` (and no `initNodes`) the node starts with no members and asks the
    /// seed to admit it.
    pub fn from_config(cfg: &ClusterConfig) -> Result<Option<Topology>, String> {
        if cfg.is_single() {
            return Ok(None);
        }
        if cfg.role != "replica" {
            return Err(format!(
                "cluster.role {:?}: only replica is supported",
                cfg.role
            ));
        }
        if cfg.slot_count == 0 {
            return Err("cluster.slotCount must be at least 1".into());
        }
        let default_port = port_of(&cfg.addr).unwrap_or(11110);
        let mut members = Vec::new();
        for entry in &cfg.init_nodes {
            let m = parse_member(entry, default_port)?;
            if members.iter().any(|o: &Member| o.id == m.id) {
                return Err(format!(
                    "cluster.initNodes names node {} twice: node ids must be unique",
                    m.id
                ));
            }
            members.push(m);
        }
        members.sort_by_key(|m| m.id);
        let seed = if cfg.seed.is_empty() {
            None
        } else {
            Some(parse_member(&cfg.seed, default_port)?)
        };
        let me_member = match members.iter().find(|m| m.id == cfg.node_id) {
            Some(m) => m.clone(),
            None if seed.is_some() => {
                let addr = if cfg.server_addr.is_empty() {
                    cfg.addr.trim_start_matches("tcp://").to_string()
                } else {
                    cfg.server_addr.clone()
                };
                parse_member(&format!("{}@{addr}", cfg.node_id), default_port)?
            }
            None => {
                return Err(format!(
                    "cluster.nodeId {} is not in cluster.initNodes",
                    cfg.node_id
                ))
            }
        };
        if seed.as_ref().is_some_and(|s| s.id == cfg.node_id) {
            return Err("cluster.seed names this node itself".into());
        }
        Ok(Some(Topology {
            me: cfg.node_id,
            me_member,
            members,
            slot_count: cfg.slot_count,
            replicas_wanted: cfg.slot_replica_count.max(1),
            seed,
            secret: super::auth::Secret::new(&cfg.secret),
        }))
    }

    /// Whether this node is a member (a joining node is not until admitted).
    pub fn is_member(&self) -> bool {
        self.members.iter().any(|m| m.id == self.me)
    }

    /// Replaces the member list (from the configuration group).
    pub fn set_members(&mut self, mut members: Vec<Member>) {
        members.sort_by_key(|m| m.id);
        members.dedup_by_key(|m| m.id);
        self.members = members;
    }

    /// Replicas per slot now: the configured count, at most the member count.
    pub fn replicas(&self) -> usize {
        self.replicas_wanted.clamp(1, self.members.len().max(1))
    }

    /// The nodes replicating `slot`, its preferred leader first: `replicas` members in rotation
    /// starting at `slot mod members`.
    pub fn replicas_of(&self, slot: u16) -> Vec<NodeId> {
        let n = self.members.len();
        if n == 0 {
            return Vec::new();
        }
        (0..self.replicas())
            .map(|k| self.members[(slot as usize + k) % n].id)
            .collect()
    }

    /// Whether this node replicates `slot`.
    pub fn hosts(&self, slot: u16) -> bool {
        self.replicas_of(slot).contains(&self.me)
    }

    /// The member `id`.
    pub fn member(&self, id: NodeId) -> Option<&Member> {
        if id == self.me {
            return Some(&self.me_member);
        }
        self.members.iter().find(|m| m.id == id)
    }

    /// The other members.
    pub fn peers(&self) -> impl Iterator<Item = &Member> + '_ {
        self.members.iter().filter(move |m| m.id != self.me)
    }

    /// A digest of the slot layout every node must share (slots, replicas): two nodes whose
    /// layouts differ refuse to link. (The member list is the configuration group's.)
    pub fn layout(&self) -> u64 {
        crc32fast::hash(format!("{}/{}", self.slot_count, self.replicas_wanted).as_bytes()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(me: u64, nodes: &[&str]) -> ClusterConfig {
        ClusterConfig {
            node_id: me,
            init_nodes: nodes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn members_parse_with_default_ports_and_prefixes() {
        assert_eq!(
            parse_member("1002@tcp://10.0.0.2", 11110).unwrap(),
            Member {
                id: 1002,
                host: "10.0.0.2".into(),
                port: 11110
            }
        );
        assert_eq!(parse_member("7@h:9", 1).unwrap().port, 9);
        assert!(parse_member("h:9", 1).is_err());
        assert!(parse_member("x@h:9", 1).is_err());
    }

    #[test]
    fn duplicate_ids_and_strangers_are_refused() {
        assert!(Topology::from_config(&cfg(1, &["1@a:1", "1@b:1"])).is_err());
        let mut joiner = cfg(4, &[]);
        joiner.seed = "1@a:9".into();
        joiner.addr = "tcp://127.0.0.1:7".into();
        let t = Topology::from_config(&joiner).unwrap().unwrap();
        assert!(!t.is_member());
        assert_eq!(t.seed.as_ref().unwrap().id, 1);
        assert_eq!(t.me_member.port, 7);
        assert!(Topology::from_config(&cfg(3, &["1@a:1", "2@b:1"])).is_err());
        assert!(Topology::from_config(&cfg(1, &[])).unwrap().is_none());
    }

    #[test]
    fn replicas_rotate_and_leaders_spread() {
        let t = Topology::from_config(&cfg(2, &["3@c:1", "1@a:1", "2@b:1", "4@d:1"]))
            .unwrap()
            .unwrap();
        assert_eq!(t.replicas_of(0), vec![1, 2, 3]);
        assert_eq!(t.replicas_of(3), vec![4, 1, 2]);
        let mut led = [0; 5];
        for s in 0..t.slot_count {
            led[t.replicas_of(s)[0] as usize] += 1;
        }
        assert_eq!(&led[1..], &[16, 16, 16, 16]);
        assert!(t.hosts(0) && !t.hosts(2));
    }
}
