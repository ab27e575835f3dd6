//! HTTP responses: status, JSON or text body, CORS headers (spec §1.5), written into the
//! connection's output buffer so pipelined responses leave in one write.

use bytes::{BufMut, Bytes, BytesMut};

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, or empty for no body type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Bytes,
}

impl Response {
    /// A JSON response from already-serialized text.
    pub fn json_text(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: "application/json; charset=utf-8",
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A JSON response from a value.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(v) => Self::json_text(status, v),
            Err(e) => Self::error(500, &format!("cannot encode response: {e}")),
        }
    }

    /// The error envelope `{"msg":…,"status":…}` (spec §1.3).
    pub fn error(status: u16, msg: &str) -> Self {
        Self::json(status, &serde_json::json!({ "msg": msg, "status": status }))
    }

    /// The response with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A response with no body (e.g. 204, or 401 on the API port).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            content_type: "",
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A text response (Prometheus exposition, HTML).
    pub fn text(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Appends the response to `out`, with `Connection: close` when the connection ends.
    pub fn write_to(&self, out: &mut BytesMut, keep_alive: bool, head_only: bool) {
        out.reserve(256 + self.body.len());
        out.put_slice(b"HTTP/1.1 ");
        out.put_slice(self.status.to_string().as_bytes());
        out.put_u8(b' ');
        out.put_slice(reason(self.status).as_bytes());
        out.put_slice(b"\r\n");
        if !self.content_type.is_empty() {
            out.put_slice(b"Content-Type: ");
            out.put_slice(self.content_type.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"Content-Length: ");
        out.put_slice(self.body.len().to_string().as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(CORS);
        for (k, v) in &self.headers {
            out.put_slice(k.as_bytes());
            out.put_slice(b": ");
            out.put_slice(v.as_bytes());
            out.put_slice(b"\r\n");
        }
        if !keep_alive {
            out.put_slice(b"Connection: close\r\n");
        }
        out.put_slice(b"\r\n");
        if !head_only {
            out.put_slice(&self.body);
        }
    }
}

/// CORS headers every response carries (spec §1.5).
const CORS: &[u8] = b"Access-Control-Allow-Origin: *\r\n\
Access-Control-Allow-Credentials: true\r\n\
Access-Control-Allow-Methods: POST, OPTIONS, GET, PUT,DELETE,PATCH\r\n\
Access-Control-Allow-Headers: Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, accept, origin, Cache-Control, X-Requested-With, token, appid, noncestr, sign, timestamp\r\n";

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_and_framing() {
        let mut out = BytesMut::new();
        Response::error(400, "bad").write_to(&mut out, false, false);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("Content-Length: 26\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.contains("Access-Control-Allow-Origin: *\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"msg\":\"bad\",\"status\":400}"));
    }
}
