//! One HTTP/1.1 connection: read, parse every complete (pipelined) request, answer them in
//! order with one write, keep the connection alive, close on errors, limits and timeouts.

use super::request::{parse_request, Method, RequestLimits};
use super::response::Response;
use crate::runtime::LocalStop;
use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::future::Future;
use std::time::Duration;

/// Settings of the HTTP connection loop.
#[derive(Clone, Copy, Debug)]
pub struct ConnSettings {
    /// Request size limits.
    pub limits: RequestLimits,
    /// Longest wait for the next bytes (idle keep-alive or a stalled request).
    pub timeout: Duration,
}

/// Bytes a read asks for at least.
const READ_CHUNK: usize = 4096;

/// Serves requests on `stream` with `handle` until the peer closes, an error ends it, or
/// `stop` says the shard is shutting down (in-flight requests still get answers).
pub async fn serve_http<H, F>(
    mut stream: TcpStream,
    settings: ConnSettings,
    stop: &LocalStop,
    mut handle: H,
) where
    H: FnMut(super::request::Request) -> F,
    F: Future<Output = Response>,
{
    let _ = stream.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::new();
    // When the request now partly in `inbuf` began: the whole request must arrive within
    // `timeout` of its first byte, so a client trickling bytes (slowloris) cannot hold on.
    let mut request_began: Option<std::time::Instant> = None;
    loop {
        let mut close = false;
        loop {
            match parse_request(&mut inbuf, settings.limits) {
                Ok(Some(req)) => {
                    // What is left in the buffer belongs to the next request.
                    request_began = None;
                    let keep_alive = req.keep_alive && !stop.is_stopped();
                    let head_only = req.method == Method::Head;
                    let response = handle(req).await;
                    response.write_to(&mut out, keep_alive, head_only);
                    if !keep_alive {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    Response::error(e.status, &e.msg).write_to(&mut out, false, false);
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            let pending = std::mem::take(&mut out);
            match monoio::time::timeout(settings.timeout, stream.write_all(pending)).await {
                Ok((Ok(_), mut buf)) => {
                    buf.clear();
                    out = buf;
                }
                _ => return,
            }
        }
        if close || stop.is_stopped() {
            return;
        }
        if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 {
            inbuf.reserve(READ_CHUNK);
        }
        let wait = if inbuf.is_empty() {
            request_began = None;
            settings.timeout
        } else {
            let began = *request_began.get_or_insert_with(std::time::Instant::now);
            match settings.timeout.checked_sub(began.elapsed()) {
                Some(left) if !left.is_zero() => left,
                _ => return,
            }
        };
        let len = inbuf.len();
        let cap = inbuf.capacity();
        let read = stream.read(inbuf.slice_mut(len..cap));
        let read = monoio::select! {
            r = monoio::time::timeout(wait, read) => r,
            _ = stop.wait() => return,
        };
        match read {
            Ok((Ok(n), slice)) if n > 0 => {
                inbuf = slice.into_inner();
                if request_began.is_none() {
                    request_began = Some(std::time::Instant::now());
                }
            }
            _ => return,
        }
    }
}
