//! SO_REUSEPORT listener groups: one listening socket per shard on the same address, so the
//! kernel spreads connections and each connection lives on the core that accepted it.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};

/// Backlog of each listening socket.
const BACKLOG: i32 = 4096;

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds `count` sockets to `addr` with SO_REUSEPORT. A port of 0 is resolved once, by the
/// first socket, and the rest bind the same port. Errors name the address.
pub fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let first = bind_one(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let actual = first.local_addr()?;
    let mut group = vec![first];
    for _ in 1..count {
        group
            .push(bind_one(actual).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen on {actual}: {e}"))
            })?);
    }
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_resolved_port() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).expect("bind");
        let ports: Vec<u16> = group
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert_ne!(ports[0], 0);
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    }

    #[test]
    fn a_taken_port_is_an_error_naming_the_address() {
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = plain.local_addr().unwrap();
        let err = bind_group(addr, 1).expect_err("port is taken without SO_REUSEPORT");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
