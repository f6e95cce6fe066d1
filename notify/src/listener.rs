//! The loop: connect and LISTEN, drain the queue, wait for a NOTIFY, the poll
//! timer or the next retry, drain again; reconnect with a backoff when the
//! database goes away; stop between notifications when asked.
//!
//! Delivery semantics, per claimed notification:
//! - every route is tried; all succeeded -> `ack_notification`;
//!   any failed -> `fail_notification(id, "route: reason; ...")`, and the
//!   queue offers it again after its backoff.
//! - routes that succeeded are remembered in this process until the ack, so
//!   a retry (or a re-claim after a lost ack) skips them: while the listener
//!   runs, each route gets each notification once. After a restart that
//!   memory is gone, so a notification that had failed on one route and
//!   succeeded on another is sent again to the one that succeeded: across
//!   restarts delivery is at least once per route (receivers can drop
//!   repeats by `X-LLM-Cost-Notification-Id` or the e-mail's Message-ID).
//! - one notification is claimed at a time, and a route is only started if
//!   its timeout still ends inside the lease (with a margin for the ack), so
//!   no other consumer can claim a notification while we are delivering it.

use crate::config::{Config, LEASE_MARGIN};
use crate::message::Notification;
use crate::queue::{self, Queue};
use crate::routing::{self, Route};
use crate::smtp::{self, Email};
use crate::webhook::Poster;
use crate::{error, info, warn};
use postgres::fallible_iterator::FallibleIterator;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened over a run, for `--once`'s exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub acked: u64,
    pub failed: u64,
}

pub struct Listener {
    config: Config,
    poster: Poster,
    stop: Arc<AtomicBool>,
    /// Routes already delivered, per notification not yet acked.
    delivered: HashMap<i64, HashSet<String>>,
    stats: Stats,
}

/// Bounds the memory of partial deliveries (one entry per notification that
/// failed on some route and is waiting for its retry).
const MAX_REMEMBERED: usize = 10_000;
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

enum Wake {
    Notify(Vec<String>),
    Timer,
    Stop,
}

impl Listener {
    pub fn new(config: Config, stop: Arc<AtomicBool>) -> Listener {
        let poster = Poster::new(config.http_timeout);
        Listener { config, poster, stop, delivered: HashMap::new(), stats: Stats::default() }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs until stopped (or, with `once`, until nothing is claimable).
    /// Database errors are retried with a backoff, except with `once`.
    pub fn run(&mut self, once: bool) -> Result<Stats, String> {
        let mut delay = Duration::from_secs(1);
        while !self.stopping() {
            let result = match Queue::connect(&self.config.database_url, &self.config.channel) {
                Ok(mut queue) => {
                    info!("connected; listening on channel {:?}", self.config.channel);
                    delay = Duration::from_secs(1);
                    self.session(&mut queue, once).map_err(|e| format!("database error: {}", queue::describe(&e)))
                }
                Err(e) => Err(format!("cannot connect to the database: {}", queue::describe(&e))),
            };
            match result {
                Ok(()) => break,
                Err(e) if once => return Err(e),
                Err(e) => {
                    error!("{e}; reconnecting in {delay:?}");
                    self.sleep(delay);
                    delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                }
            }
        }
        info!("stopped: {} acked, {} failed attempts", self.stats.acked, self.stats.failed);
        Ok(self.stats)
    }

    fn session(&mut self, queue: &mut Queue, once: bool) -> Result<(), postgres::Error> {
        loop {
            self.drain(queue)?;
            if once || self.stopping() {
                return Ok(());
            }
            // Wake for the poll timer, or earlier when a retry falls due.
            let wait = match queue.next_due()? {
                // at least 200 ms: a row due now that another consumer holds must
                // not make us spin
                Some(due) => due.max(Duration::from_millis(200)).min(self.config.poll_interval),
                None => self.config.poll_interval,
            };
            match self.wait(queue, wait)? {
                Wake::Notify(ids) => info!("woken by NOTIFY for id={}", ids.join(",")),
                Wake::Timer => {}
                Wake::Stop => return Ok(()),
            }
        }
    }

    /// Claims and handles notifications until none is claimable.
    fn drain(&mut self, queue: &mut Queue) -> Result<(), postgres::Error> {
        while !self.stopping() {
            let claimed_at = Instant::now();
            let Some(n) = queue.claim_one(self.config.lease)? else { break };
            self.handle(queue, n, claimed_at + self.config.lease)?;
        }
        Ok(())
    }

    fn handle(&mut self, queue: &mut Queue, n: Notification, lease_end: Instant) -> Result<(), postgres::Error> {
        let budget = n.body.get("budget_id").filter(|v| !v.is_null()).map(|v| v.to_string());
        info!(
            "claimed id={} kind={} budget_id={} attempt={}",
            n.id,
            n.kind,
            budget.as_deref().unwrap_or("-"),
            n.body.get("attempts").map(|v| v.to_string()).unwrap_or_default()
        );
        let routes = match routing::resolve(n.notify.as_ref(), &self.config.defaults) {
            Ok(routes) => routes,
            Err(e) => {
                warn!("id={} cannot be routed: {e}", n.id);
                self.stats.failed += 1;
                let retry = queue.fail(n.id, &e)?;
                warn!(
                    "id={} failed; next attempt at {}",
                    n.id,
                    retry.as_deref().unwrap_or("never (already delivered)")
                );
                return Ok(());
            }
        };
        if routes.is_empty() {
            let why = match routing::parse_notify(n.notify.as_ref()) {
                Ok(Some(_)) => "its budget's notify lists no route",
                _ => "no budget routing and no default routes",
            };
            info!("id={} has no route ({why}): acked undelivered", n.id);
            self.ack(queue, n.id)?;
            return Ok(());
        }

        let mut done = self.delivered.remove(&n.id).unwrap_or_default();
        let mut errors = Vec::new();
        for route in &routes {
            if done.contains(&route.key()) {
                info!("id={} already delivered to {route}, skipped", n.id);
                continue;
            }
            if Instant::now() + self.config.route_timeout() + LEASE_MARGIN > lease_end {
                errors.push(format!("{route}: not attempted, the lease ran out (raise lease_secs)"));
                continue;
            }
            let started = Instant::now();
            match self.deliver(route, &n) {
                Ok(()) => {
                    info!("id={} delivered to {route} in {} ms", n.id, started.elapsed().as_millis());
                    done.insert(route.key());
                }
                Err(e) => {
                    warn!("id={} delivery to {route} failed: {e}", n.id);
                    errors.push(format!("{route}: {e}"));
                }
            }
        }

        if errors.is_empty() {
            // Remembered until the ack is through: if it fails (the database
            // went away) the re-claim skips every route.
            self.delivered.insert(n.id, done);
            self.ack(queue, n.id)?;
            self.delivered.remove(&n.id);
        } else {
            self.stats.failed += 1;
            if !done.is_empty() {
                if self.delivered.len() >= MAX_REMEMBERED {
                    warn!(
                        "forgetting partial deliveries of {} notifications: their retries resend to every route",
                        self.delivered.len()
                    );
                    self.delivered.clear();
                }
                self.delivered.insert(n.id, done);
            }
            let error = errors.join("; ");
            let retry = queue.fail(n.id, &error)?;
            warn!(
                "id={} failed on {} of {} routes; next attempt at {}",
                n.id,
                errors.len(),
                routes.len(),
                retry.as_deref().unwrap_or("never (already delivered)")
            );
        }
        Ok(())
    }

    fn ack(&mut self, queue: &mut Queue, id: i64) -> Result<(), postgres::Error> {
        if queue.ack(id)? {
            self.stats.acked += 1;
            info!("id={id} acked");
        } else {
            warn!("id={id} was already acked (by another consumer after our lease ended?)");
        }
        Ok(())
    }

    fn deliver(&self, route: &Route, n: &Notification) -> Result<(), String> {
        match route {
            Route::Webhook(url) => self.poster.post_json(url, n.id, &n.webhook_json()),
            Route::Slack(url) => self.poster.post_json(url, n.id, &n.slack_json()),
            Route::Email(to) => {
                let config = self.config.smtp.as_ref().ok_or("no SMTP server configured (smtp.host)")?;
                let email = Email {
                    to,
                    subject: &n.subject(),
                    text: &n.email_text(),
                    message_id: format!("<llm-cost-notification-{}@{}>", n.id, config.helo),
                };
                smtp::send(config, &email)
            }
        }
    }

    /// Waits up to `timeout` for a NOTIFY, in short slices so a stop request
    /// is seen promptly.
    fn wait(&self, queue: &mut Queue, timeout: Duration) -> Result<Wake, postgres::Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stopping() {
                return Ok(Wake::Stop);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Wake::Timer);
            }
            let mut notifications = queue.client.notifications();
            let first = notifications.timeout_iter(left.min(Duration::from_millis(500))).next()?;
            if let Some(first) = first {
                // Coalesce whatever else has arrived: one drain serves all.
                let mut ids = vec![announced_id(first.payload())];
                let mut more = notifications.iter();
                while let Some(n) = more.next()? {
                    ids.push(announced_id(n.payload()));
                }
                return Ok(Wake::Notify(ids));
            }
        }
    }

    fn sleep(&self, total: Duration) {
        let end = Instant::now() + total;
        while !self.stopping() && Instant::now() < end {
            std::thread::sleep(end.saturating_duration_since(Instant::now()).min(Duration::from_millis(200)));
        }
    }
}

/// The id in a NOTIFY payload (`{"id": 42, "kind": ..., ...}`), for the log.
fn announced_id(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("id").map(|id| id.to_string()))
        .unwrap_or_else(|| "?".into())
}
