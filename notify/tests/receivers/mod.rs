//! Loopback stand-ins for what the listener delivers to, recording what
//! arrives: an HTTP server (webhooks and Slack) whose answer can be set per
//! path, and an SMTP sink. Both bind 127.0.0.1 on a free port.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// The status this request was answered with.
    pub status: u16,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

#[derive(Clone)]
pub struct HttpReceiver {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    statuses: Arc<Mutex<HashMap<String, u16>>>,
    delays: Arc<Mutex<HashMap<String, Duration>>>,
}

impl HttpReceiver {
    pub fn start() -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = HttpReceiver {
            port: listener.local_addr().unwrap().port(),
            requests: Arc::default(),
            statuses: Arc::default(),
            delays: Arc::default(),
        };
        let server = r.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer requests to `path` with `status` from now on (default 200).
    pub fn set_status(&self, path: &str, status: u16) {
        self.statuses.lock().unwrap().insert(path.to_string(), status);
    }

    /// Answer requests to `path` only after `delay` (a slow receiver).
    pub fn set_delay(&self, path: &str, delay: Duration) {
        self.delays.lock().unwrap().insert(path.to_string(), delay);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn to(&self, path: &str) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Serves one connection, keep-alive, until the client closes it.
    fn serve(&self, stream: TcpStream) {
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (_method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            if let Some(delay) = self.delays.lock().unwrap().get(&path).copied() {
                std::thread::sleep(delay);
            }
            let status = *self.statuses.lock().unwrap().get(&path).unwrap_or(&200);
            self.requests.lock().unwrap().push(Request {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                status,
            });
            let answer = if status == 200 { "ok" } else { "receiver says no" };
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA as sent (dot-stuffing undone), headers and body.
    pub data: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .split("\r\n")
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = SmtpSink { port: listener.local_addr().unwrap().port(), mails: Arc::default() };
        let server = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        sink
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    fn serve(&self, stream: TcpStream) {
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let say = |w: &mut TcpStream, s: &str| w.write_all(s.as_bytes()).is_ok();
        if !say(&mut w, "220 sink.test ESMTP\r\n") {
            return;
        }
        let (mut from, mut to) = (String::new(), Vec::new());
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let cmd = line.trim_end().to_string();
            let upper = cmd.to_ascii_uppercase();
            let ok = if upper.starts_with("EHLO") {
                say(&mut w, "250-sink.test\r\n250 8BITMIME\r\n")
            } else if upper.starts_with("MAIL FROM:") {
                from = cmd[10..].trim_matches(['<', '>', ' ']).to_string();
                to.clear();
                say(&mut w, "250 ok\r\n")
            } else if upper.starts_with("RCPT TO:") {
                to.push(cmd[8..].trim_matches(['<', '>', ' ']).to_string());
                say(&mut w, "250 ok\r\n")
            } else if upper == "DATA" {
                say(&mut w, "354 go ahead\r\n");
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                self.mails.lock().unwrap().push(Mail { from: from.clone(), to: to.clone(), data });
                say(&mut w, "250 queued\r\n")
            } else if upper == "QUIT" {
                say(&mut w, "221 bye\r\n");
                return;
            } else {
                say(&mut w, "502 not here\r\n")
            };
            if !ok {
                return;
            }
        }
    }
}
