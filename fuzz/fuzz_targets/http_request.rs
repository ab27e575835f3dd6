//! Feeds arbitrary bytes in arbitrary chunks to the HTTP request parser: it must never panic,
//! never take more bytes than it was given, and agree between chunked and one-shot parsing.
#![no_main]

use bytes::BytesMut;
use jindou::api::http::{parse_request, RequestLimits};
use libfuzzer_sys::fuzz_target;

const LIMITS: RequestLimits = RequestLimits {
    max_head: 2048,
    max_body: 4096,
};

fn drain(buf: &mut BytesMut, out: &mut Vec<(String, Vec<u8>)>) -> Option<u16> {
    loop {
        let before = buf.len();
        match parse_request(buf, LIMITS) {
            Ok(Some(r)) => {
                assert!(buf.len() < before, "a request consumes bytes");
                out.push((r.path.clone(), r.body.to_vec()));
            }
            Ok(None) => return None,
            Err(e) => return Some(e.status),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let mut whole = BytesMut::from(input);
    let mut all = Vec::new();
    let whole_err = drain(&mut whole, &mut all);
    let step = (ctl as usize % 17) + 1;
    let mut chunked = BytesMut::new();
    let mut some = Vec::new();
    let mut chunk_err = None;
    for piece in input.chunks(step) {
        chunked.extend_from_slice(piece);
        chunk_err = drain(&mut chunked, &mut some);
        if chunk_err.is_some() {
            break;
        }
    }
    if whole_err.is_none() && chunk_err.is_none() {
        assert_eq!(all, some, "chunking must not change the requests");
    }
});
