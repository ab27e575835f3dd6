//! Parsing HTTP/1.1 requests out of a connection's buffer: head via httparse, then a
//! Content-Length or chunked body, with limits enforced before anything is buffered past them.

use bytes::{Bytes, BytesMut};

/// Limits one request must respect.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Request line plus headers.
    pub max_head: usize,
    /// Body after de-chunking.
    pub max_body: usize,
}

/// A request method the API uses; anything else is kept as `Other` and answered 405/404.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS (CORS preflight)
    Options,
    /// HEAD
    Head,
    /// Any other method.
    Other,
}

/// One parsed request. Header names are lower-cased.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    /// The raw query string (after `?`), possibly empty.
    pub query: String,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Bytes,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

impl Request {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }
}

/// Decodes `%XX` escapes and `+` as space; invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a request was refused; becomes a 4xx response and the connection closes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// Status code (400, 413, 431, 501…).
    pub status: u16,
    /// Human-readable reason for the JSON envelope.
    pub msg: String,
}

impl HttpError {
    fn new(status: u16, msg: impl Into<String>) -> Self {
        Self {
            status,
            msg: msg.into(),
        }
    }
}

/// Most headers one request may carry.
const MAX_HEADERS: usize = 64;

/// Takes one complete request off the front of `buf`: `Ok(None)` if more bytes are needed.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: RequestLimits,
) -> Result<Option<Request>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head {
                return Err(HttpError::new(431, "request header too large"));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(431, "too many request headers"))
        }
        Err(e) => return Err(HttpError::new(400, format!("malformed request: {e}"))),
    };
    if head_len > limits.max_head {
        return Err(HttpError::new(431, "request header too large"));
    }
    let method = match req.method.unwrap_or("") {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let version = req.version.unwrap_or(1);
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut connection = None;
    let mut parsed_headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        match name.as_str() {
            "content-length" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| HttpError::new(400, "invalid Content-Length"))?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(HttpError::new(400, "conflicting Content-Length headers"));
                }
                content_length = Some(n);
            }
            "transfer-encoding" => {
                if value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if !value.eq_ignore_ascii_case("identity") {
                    return Err(HttpError::new(
                        501,
                        format!("unsupported Transfer-Encoding {value}"),
                    ));
                }
            }
            "connection" => connection = Some(value.to_ascii_lowercase()),
            _ => {}
        }
        parsed_headers.push((name, value));
    }
    if chunked && content_length.is_some() {
        return Err(HttpError::new(
            400,
            "both Content-Length and chunked encoding",
        ));
    }
    let keep_alive = match connection.as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => version == 1,
    };
    let (body, consumed) = if chunked {
        match decode_chunked(&buf[head_len..], limits.max_body)? {
            Some((body, used)) => (Bytes::from(body), head_len + used),
            None => return Ok(None),
        }
    } else {
        let len = content_length.unwrap_or(0);
        if len > limits.max_body {
            return Err(HttpError::new(413, "request body too large"));
        }
        if buf.len() < head_len + len {
            return Ok(None);
        }
        (Bytes::new(), head_len + len)
    };
    let request = Request {
        method,
        path: percent_decode(path),
        query: query.to_string(),
        headers: parsed_headers,
        body,
        keep_alive,
    };
    let mut taken = buf.split_to(consumed);
    let request = if chunked {
        request
    } else {
        Request {
            body: taken.split_off(head_len).freeze(),
            ..request
        }
    };
    Ok(Some(request))
}

/// Decodes a chunked body at the start of `data`: `Ok(None)` if incomplete, else the body and
/// the bytes it used (including trailers).
fn decode_chunked(data: &[u8], max_body: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&data[pos..]) else {
            if data.len() - pos > 1024 {
                return Err(HttpError::new(400, "chunk size line too long"));
            }
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[pos..pos + line_end])
            .map_err(|_| HttpError::new(400, "invalid chunk size"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::new(400, "invalid chunk size"))?;
        pos += line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let Some(end) = find_crlf(&data[pos..]) else {
                    return Ok(None);
                };
                pos += end + 2;
                if end == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if body.len().saturating_add(size) > max_body {
            return Err(HttpError::new(413, "request body too large"));
        }
        if data.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[pos..pos + size]);
        if &data[pos + size..pos + size + 2] != b"\r\n" {
            return Err(HttpError::new(400, "chunk not terminated by CRLF"));
        }
        pos += size + 2;
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RequestLimits = RequestLimits {
        max_head: 1024,
        max_body: 64,
    };

    fn parse(s: &[u8]) -> Result<Option<Request>, HttpError> {
        parse_request(&mut BytesMut::from(s), LIMITS)
    }

    #[test]
    fn simple_get_with_query() {
        let r = parse(b"GET /route?intranet=1&x=a%20b HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/route");
        assert_eq!(r.query_param("intranet").as_deref(), Some("1"));
        assert_eq!(r.query_param("x").as_deref(), Some("a b"));
        assert!(r.keep_alive);
    }

    #[test]
    fn content_length_body_and_pipelining() {
        let mut buf = BytesMut::from(
            &b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.0\r\n\r\n"[..],
        );
        let a = parse_request(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(&a.body[..], b"hi");
        let b = parse_request(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(b.path, "/b");
        assert!(!b.keep_alive, "HTTP/1.0 closes by default");
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_head_and_body_wait_for_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost").unwrap().is_none());
        assert!(parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
            .unwrap()
            .is_none());
    }

    #[test]
    fn chunked_body_is_decoded() {
        let r = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(&r.body[..], b"abcde");
        assert!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn limits_and_malformed_input_are_refused() {
        let big = parse(b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n").unwrap_err();
        assert_eq!(big.status, 413);
        let chunk =
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n").unwrap_err();
        assert_eq!(chunk.status, 413);
        // A 2000-byte request line: malformed or too large, depending on where httparse stops.
        let head = parse(&[b'a'; 2000]).unwrap_err();
        assert!(matches!(head.status, 400 | 431), "{head:?}");
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 1100));
        assert_eq!(parse(&long).unwrap_err().status, 431);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
                .unwrap_err()
                .status,
            501
        );
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
