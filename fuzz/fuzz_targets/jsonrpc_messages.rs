//! Feeds arbitrary bytes, in arbitrary chunks, to the JSON-RPC object cutter and every object
//! it cuts to the envelope and params parsers: nothing may panic, no object may pass the
//! limit, and the bytes held while waiting stay bounded by it.
#![no_main]

use bytes::BytesMut;
use jindou::gateway::jsonrpc::{split::Splitter, wire};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let mut split = Splitter::default();
    let mut buf = BytesMut::new();
    for piece in input.chunks(ctl as usize % 61 + 1) {
        buf.extend_from_slice(piece);
        loop {
            match split.next(&mut buf, MAX) {
                Ok(Some(obj)) => {
                    assert!(obj.len() <= MAX && obj.first() == Some(&b'{'));
                    if let Ok(req) = wire::parse(&obj) {
                        let _ = serde_json::from_value::<wire::ConnectParams>(req.params.clone());
                        let _ = serde_json::from_value::<wire::RecvackParams>(req.params.clone())
                            .map(|p| p.id());
                        if let Ok(p) = serde_json::from_value::<wire::SendParams>(req.params) {
                            let _ = wire::payload_bytes(p.payload);
                        }
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.len() <= MAX + 64,
            "an unfinished object is refused past the limit"
        );
    }
});
