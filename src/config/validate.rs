//! Semantic checks of a loaded [`Config`] and the listener addresses it resolves to.

use super::{Config, ConfigError};
use std::net::SocketAddr;

/// The socket addresses the shards bind, resolved from the config's URL-style keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAddrs {
    /// Raw TCP clients (`addr`).
    pub tcp: SocketAddr,
    /// WebSocket clients (`wsAddr`).
    pub ws: SocketAddr,
    /// WSS clients (`wssAddr`), if configured.
    pub wss: Option<SocketAddr>,
    /// The REST API (`httpAddr`).
    pub http: SocketAddr,
    /// The manager listener (`manager.addr`), if `manager.on`.
    pub manager: Option<SocketAddr>,
    /// The chat demo listener (`demo.addr`), if `demo.on`.
    pub demo: Option<SocketAddr>,
}

/// Parses `tcp://host:port`, `ws://host:port`, or `host:port` into a socket address.
pub(crate) fn parse_listen(
    key: &str,
    value: &str,
    schemes: &[&str],
) -> Result<SocketAddr, ConfigError> {
    let bad = |why: String| ConfigError::BadValue {
        key: key.into(),
        value: format!("{value:?}"),
        why,
    };
    let mut rest = value.trim();
    if let Some((scheme, tail)) = rest.split_once("://") {
        if !schemes.contains(&scheme) {
            return Err(bad(format!("the scheme must be one of {schemes:?}")));
        }
        rest = tail;
    }
    let rest = rest.trim_end_matches('/');
    rest.parse::<SocketAddr>()
        .map_err(|e| bad(format!("expected host:port with a numeric IP ({e})")))
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::BadValue {
            key: key.into(),
            value: format!("{value:?}"),
            why: format!("expected one of {allowed:?}"),
        })
    }
}

fn at_least(key: &str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value >= min {
        Ok(())
    } else {
        Err(ConfigError::BadValue {
            key: key.into(),
            value: value.to_string(),
            why: format!("must be at least {min}"),
        })
    }
}

impl Config {
    /// Refuses values that parse but cannot work; names the key and the value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        one_of("mode", &self.mode, &["debug", "release", "bench"])?;
        one_of(
            "runtime.driver",
            &self.runtime.driver,
            &["auto", "uring", "epoll"],
        )?;
        one_of(
            "storage.syncPolicy",
            &self.storage.sync_policy,
            &["always", "interval", "none"],
        )?;
        one_of(
            "datasource.protocol",
            &self.datasource.protocol,
            &["cmd", "rest"],
        )?;
        if self.root_dir.trim().is_empty() {
            return Err(ConfigError::BadValue {
                key: "rootDir".into(),
                value: "\"\"".into(),
                why: "a data directory is required".into(),
            });
        }
        if self.logger.level > 4 {
            return Err(ConfigError::BadValue {
                key: "logger.level".into(),
                value: self.logger.level.to_string(),
                why: "expected 0 (auto) to 4".into(),
            });
        }
        if self.cluster.node_id > 1023 {
            return Err(ConfigError::BadValue {
                key: "cluster.nodeId".into(),
                value: self.cluster.node_id.to_string(),
                why: "must be at most 1023 (it is part of every message id)".into(),
            });
        }
        at_least("storage.syncBatch", self.storage.sync_batch as u64, 1)?;
        at_least(
            "storage.segmentSize",
            self.storage.segment_size.get(),
            1 << 20,
        )?;
        at_least("limits.maxFrameSize", self.limits.max_frame_size.get(), 64)?;
        at_least(
            "limits.outboundBuffer",
            self.limits.outbound_buffer.get(),
            4096,
        )?;
        at_least(
            "limits.maxHttpHeader",
            self.limits.max_http_header.get(),
            1024,
        )?;
        at_least("limits.maxHttpBody", self.limits.max_http_body.get(), 1024)?;
        at_least(
            "limits.maxConnections",
            self.limits.max_connections as u64,
            1,
        )?;
        at_least(
            "limits.maxHttpConnections",
            self.limits.max_http_connections as u64,
            1,
        )?;
        at_least(
            "limits.datasourceLookups",
            self.limits.datasource_lookups as u64,
            1,
        )?;
        at_least(
            "datasource.timeout",
            self.datasource.timeout.get().as_millis() as u64,
            1,
        )?;
        at_least(
            "runtime.meshCapacity",
            self.runtime.mesh_capacity as u64,
            16,
        )?;
        if self.limits.max_frame_size.get() > 256 << 20 {
            return Err(ConfigError::BadValue {
                key: "limits.maxFrameSize".into(),
                value: self.limits.max_frame_size.get().to_string(),
                why: "the wire format caps a frame at 256 MiB".into(),
            });
        }
        if !self.wss_addr.is_empty()
            && (self.wss_config.cert_file.is_empty() || self.wss_config.key_file.is_empty())
        {
            return Err(ConfigError::BadValue {
                key: "wssConfig.certFile".into(),
                value: format!("{:?}", self.wss_config.cert_file),
                why: "wssAddr is set, so wssConfig.certFile and wssConfig.keyFile are required"
                    .into(),
            });
        }
        self.listen_addrs().map(|_| ())
    }

    /// What an operator must hear about at start-up: an API or manager port reachable beyond
    /// loopback with no `managerToken` (anyone who reaches it can read and send everything),
    /// and client logins that check no token. Release mode prints them loudly.
    pub fn exposure_warnings(&self, addrs: &ListenAddrs) -> Vec<String> {
        let mut out = Vec::new();
        if self.manager_token.is_empty() {
            if !addrs.http.ip().is_loopback() {
                out.push(format!(
                    "the REST API listens on {} without a managerToken: anyone who can reach it \
                     can read every message and send as anyone; set managerToken",
                    addrs.http
                ));
            }
            if let Some(m) = addrs.manager {
                if !m.ip().is_loopback() && self.auth.users.is_empty() {
                    out.push(format!(
                        "the manager port listens on {m} with neither managerToken nor \
                         auth.users: its monitoring views are open to anyone"
                    ));
                }
            }
        }
        if !self.cluster.is_single() && self.cluster.secret.is_empty() {
            out.push(
                "cluster.secret is unset: any process that reaches this node's cluster port \
                 can join the cluster, vote and inject messages; set the same cluster.secret \
                 on every node"
                    .into(),
            );
        }
        if let Some(d) = addrs.demo {
            if self.manager_token.is_empty() {
                out.push(format!(
                    "the chat demo is on ({d}): its page logs anyone in as any uid through the \
                     REST API; turn demo.on off outside demonstrations"
                ));
            } else {
                out.push(format!(
                    "the chat demo is on ({d}) but managerToken is set: its page calls the REST \
                     API from the browser without the token, so logging in will fail"
                ));
            }
        }
        if !self.token_auth_on {
            out.push(
                "tokenAuthOn is false: clients may log in as any uid without a token (the \
                 system and manager uids still need theirs)"
                    .into(),
            );
        }
        out
    }

    /// Resolves the listener keys to socket addresses.
    pub fn listen_addrs(&self) -> Result<ListenAddrs, ConfigError> {
        Ok(ListenAddrs {
            tcp: parse_listen("addr", &self.addr, &["tcp"])?,
            ws: parse_listen("wsAddr", &self.ws_addr, &["ws"])?,
            wss: if self.wss_addr.is_empty() {
                None
            } else {
                Some(parse_listen("wssAddr", &self.wss_addr, &["wss"])?)
            },
            http: parse_listen("httpAddr", &self.http_addr, &["http"])?,
            manager: if self.manager.on {
                Some(parse_listen("manager.addr", &self.manager.addr, &["http"])?)
            } else {
                None
            },
            demo: if self.demo.on {
                Some(parse_listen("demo.addr", &self.demo.addr, &["http"])?)
            } else {
                None
            },
        })
    }
}
