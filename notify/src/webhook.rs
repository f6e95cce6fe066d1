//! HTTP(S) POST of a JSON body: generic webhooks and Slack-compatible ones.
//! Success is a 2xx answer; anything else (another status, a redirect, a
//! timeout, a refused connection) is a failure with a short reason. Redirects
//! are not followed: a POST that gets one is reported, not re-sent elsewhere.

use crate::routing::redact_url;
use std::io::Read;
use std::time::Duration;

pub struct Poster {
    agent: ureq::Agent,
}

impl Poster {
    /// `timeout` bounds a whole request: resolve, connect, send, response.
    pub fn new(timeout: Duration) -> Poster {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("llm-cost-notify/", env!("CARGO_PKG_VERSION")))
            .build();
        Poster { agent: ureq::Agent::new_with_config(config) }
    }

    /// POSTs `json` to `url`; `id` goes in `X-LLM-Cost-Notification-Id` so a
    /// receiver can drop a repeat (delivery is at least once, see README).
    pub fn post_json(&self, url: &str, id: i64, json: &str) -> Result<(), String> {
        let response = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-LLM-Cost-Notification-Id", id.to_string())
            .send(json)
            // ureq's messages can quote the URL, which may hold a secret
            .map_err(|e| e.to_string().replace(url, &redact_url(url)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // A little of the answer helps whoever reads last_error.
        let mut text = String::new();
        let _ = response.into_body().into_reader().take(300).read_to_string(&mut text);
        let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        Err(format!("HTTP {}: {}", status.as_u16(), text.trim()))
    }
}
