//! Feeds arbitrary bytes to the WebSocket server codec (upgrade request, then frames): it must
//! never panic and never return a message larger than its limit.
#![no_main]

use bytes::BytesMut;
use jindou::gateway::ws::{parse_upgrade, WsConn};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let mut buf = BytesMut::new();
    let mut conn = WsConn::new(MAX);
    let mut control = BytesMut::new();
    // Half the inputs skip the handshake, to reach the frame parser directly.
    let mut upgraded = ctl & 1 == 1;
    for piece in input.chunks((ctl as usize >> 1) % 31 + 1) {
        buf.extend_from_slice(piece);
        if !upgraded {
            match parse_upgrade(&mut buf, 1024) {
                Ok(Some(_)) => upgraded = true,
                Ok(None) => continue,
                Err(_) => return,
            }
        }
        loop {
            match conn.read_message(&mut buf, &mut control) {
                Ok(Some(msg)) => assert!(msg.len() <= MAX),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(control.len() <= 2 * input.len() + 256, "control replies stay bounded");
    }
});
