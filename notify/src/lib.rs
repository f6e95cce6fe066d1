//! `llm-cost-notify`: the reference alert listener for the `llm_cost`
//! PostgreSQL extension. It LISTENs on the extension's channel, drains
//! `llm_cost.claim_notifications` on every wake-up and on a timer, and delivers
//! each notification to the routes of its budget's `notify` column (or the
//! configured defaults): generic JSON webhooks, Slack-compatible webhooks and
//! e-mail over SMTP. Success is acknowledged with `ack_notification`, failure
//! recorded with `fail_notification` (the queue retries after a backoff).
//!
//! One job per module:
//! - [`config`]: the settings, from a TOML file and the environment
//! - [`routing`]: the `notify` routing shape and its validation
//! - [`message`]: what a notification says (webhook JSON, Slack text, e-mail)
//! - [`webhook`]: HTTP(S) POST of JSON
//! - [`smtp`]: a small SMTP client (plain SMTP to a relay; no TLS, no AUTH)
//! - [`queue`]: the SQL: LISTEN, claim, ack, fail, when the next row is due
//! - [`listener`]: the loop tying them together
//! - [`log`]: timestamped log lines on stderr

pub mod config;
pub mod listener;
pub mod log;
pub mod message;
pub mod queue;
pub mod routing;
pub mod smtp;
pub mod webhook;
