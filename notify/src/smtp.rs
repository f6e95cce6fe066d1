//! A small SMTP client: enough to hand a plain-text message to a relay.
//!
//! EHLO (HELO if refused), MAIL FROM, RCPT TO, DATA, QUIT over plain TCP,
//! with a deadline on the whole session. Not supported: STARTTLS or implicit
//! TLS, AUTH, SMTPUTF8 addresses, pipelining. Point it at a relay that
//! accepts mail from this host without authentication (a local Postfix or
//! an MTA sidecar on loopback), which forwards it with TLS and credentials.

use crate::config::SmtpConfig;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

/// A message for one recipient.
pub struct Email<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    /// Fixed per notification and recipient, so a repeat is recognisable.
    pub message_id: String,
}

/// Delivers `email` to the relay; Ok once the relay accepted the DATA.
pub fn send(config: &SmtpConfig, email: &Email) -> Result<(), String> {
    let deadline = Instant::now() + config.timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "SMTP: timed out".to_string())
    };
    let addrs: Vec<_> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| format!("SMTP: cannot resolve {}:{}: {e}", config.host, config.port))?
        .collect();
    let mut last = format!("SMTP: {}:{} has no address", config.host, config.port);
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("SMTP: cannot connect to {addr}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let mut session =
        Session { reader: BufReader::new(stream.try_clone().map_err(|e| e.to_string())?), writer: stream };
    let mut step = |cmd: Option<&str>, what: &str, ok: &[u16]| -> Result<(u16, String), String> {
        let timeout = remaining()?;
        session.writer.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        session.reader.get_ref().set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
        if let Some(cmd) = cmd {
            session.writer.write_all(cmd.as_bytes()).map_err(|e| format!("SMTP {what}: {e}"))?;
        }
        let (code, text) = session.reply().map_err(|e| format!("SMTP {what}: {e}"))?;
        if ok.contains(&code) {
            Ok((code, text))
        } else {
            Err(format!("SMTP {what}: {code} {text}"))
        }
    };

    step(None, "greeting", &[220])?;
    if step(Some(&format!("EHLO {}\r\n", config.helo)), "EHLO", &[250]).is_err() {
        step(Some(&format!("HELO {}\r\n", config.helo)), "HELO", &[250])?;
    }
    step(Some(&format!("MAIL FROM:<{}>\r\n", config.from)), "MAIL FROM", &[250])?;
    step(Some(&format!("RCPT TO:<{}>\r\n", email.to)), "RCPT TO", &[250, 251])?;
    step(Some("DATA\r\n"), "DATA", &[354])?;
    let data = dot_stuff(&format_message(config, email));
    step(Some(&format!("{data}.\r\n")), "message", &[250])?;
    // The relay has the message now: a failed QUIT changes nothing.
    let _ = step(Some("QUIT\r\n"), "QUIT", &[221]);
    Ok(())
}

struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    /// One reply, which may span lines: `250-first`, `250-more`, `250 last`.
    fn reply(&mut self) -> Result<(u16, String), String> {
        let mut text = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            let n = (&mut self.reader).take(4096).read_line(&mut line).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code =
                line.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| format!("bad reply {line:?}"))?;
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line.get(4..).unwrap_or(""));
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
        Err("reply too long".into())
    }
}

/// Headers and body, lines ending in CRLF.
pub fn format_message(config: &SmtpConfig, email: &Email) -> String {
    let mut m = String::new();
    m.push_str(&format!("From: llm_cost alerts <{}>\r\n", config.from));
    m.push_str(&format!("To: <{}>\r\n", email.to));
    m.push_str(&format!("Subject: {}\r\n", encode_header(email.subject)));
    m.push_str(&format!("Date: {}\r\n", crate::log::rfc2822_now()));
    m.push_str(&format!("Message-ID: {}\r\n", email.message_id));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    m.push_str("Auto-Submitted: auto-generated\r\n");
    let text = email.text.replace("\r\n", "\n");
    // 7bit when it can be; otherwise base64, which any relay passes through
    // (8BITMIME may not be offered) and which keeps lines short.
    if text.is_ascii() && text.lines().all(|l| l.len() <= 998) {
        m.push_str("Content-Transfer-Encoding: 7bit\r\n\r\n");
        for line in text.lines() {
            m.push_str(line);
            m.push_str("\r\n");
        }
    } else {
        m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let encoded = base64(text.replace('\n', "\r\n").as_bytes());
        for chunk in encoded.as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(chunk).unwrap());
            m.push_str("\r\n");
        }
    }
    m
}

/// A line starting with "." gets another (RFC 5321 4.5.2), so the message
/// cannot end the DATA early.
pub fn dot_stuff(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    for line in message.split_inclusive("\r\n") {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out
}

/// A header value: as is when ASCII, else RFC 2047 encoded words (each at
/// most 75 characters, split on character boundaries).
pub fn encode_header(value: &str) -> String {
    if value.is_ascii() {
        return value.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn encodings() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_header("plain"), "plain");
        assert_eq!(encode_header("Büdget"), "=?UTF-8?B?QsO8ZGdldA==?=");
        let long = encode_header(&"é".repeat(40));
        assert!(long.split("\r\n ").all(|w| w.len() <= 75), "{long}");
        assert_eq!(dot_stuff("a\r\n.b\r\n..c\r\nd"), "a\r\n..b\r\n...c\r\nd\r\n");
    }

    #[test]
    fn message_layout() {
        let config = SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            from: "alerts@example.com".into(),
            helo: "localhost".into(),
            timeout: Duration::from_secs(1),
        };
        let email = Email { to: "ops@example.com", subject: "s", text: "one\n.two\n", message_id: "<1@x>".into() };
        let m = format_message(&config, &email);
        assert!(m.contains("To: <ops@example.com>\r\nSubject: s\r\n"));
        assert!(m.ends_with("\r\n\r\none\r\n.two\r\n"));
        let email = Email { to: "ops@example.com", subject: "s", text: "grüße\n", message_id: "<1@x>".into() };
        assert!(format_message(&config, &email).ends_with("base64\r\n\r\nZ3LDvMOfZQ0K\r\n"));
    }
}
