//! One-shot HTTP/1.0 exchanges with the HTTP API: the server closes the connection after
//! answering, so the body runs to the end of the stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// An HTTP answer: status and body.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON (panics, naming the body, if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error.code` of an error answer, checking the error shape on the way.
    pub fn error_code(&self) -> String {
        let body = self.json();
        assert!(body["error"]["message"].is_string(), "{}", self.body);
        body["error"]["code"].as_str().unwrap().to_owned()
    }
}

/// `method path` with an optional JSON body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Answer {
    http_raw(addr, method, path, body.map(|b| ("application/json", b)))
}

/// `method path` with an optional body of the given content type.
pub fn http_raw(addr: SocketAddr, method: &str, path: &str, body: Option<(&str, &str)>) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some((content_type, body)) = body {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        request.push_str("\r\n");
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        body: body.to_owned(),
    }
}
