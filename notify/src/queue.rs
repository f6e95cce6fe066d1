//! The SQL side: one connection that LISTENs and works the queue through the
//! extension's API (`claim_notifications`, `ack_notification`,
//! `fail_notification`). The role needs EXECUTE on those and SELECT on
//! `llm_cost.budgets` and `llm_cost.notifications`: `llm_cost_admin` (or the
//! extension's owner). With row-level security on, the admin sees every
//! tenant's rows; a role with only `llm_cost_reader` could not claim.

use crate::message::Notification;
use postgres::{Client, NoTls};
use std::time::Duration;

pub struct Queue {
    pub client: Client,
}

/// The error with its causes: postgres' own Display says only "db error" or
/// "error connecting to server", the why is in the source chain.
pub fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `"name"`, doubling any `"`: the channel is an identifier in LISTEN.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Queue {
    /// Connects and LISTENs on `channel` before anything is claimed, so that
    /// a notification committed from then on either wakes us or is already
    /// in the table for the first drain.
    pub fn connect(database_url: &str, channel: &str) -> Result<Queue, postgres::Error> {
        let mut client = Client::connect(database_url, NoTls)?;
        // UTC: timestamps in the JSON we send read the same wherever we run.
        client.batch_execute(&format!(
            "SET TimeZone = 'UTC'; SET application_name = 'llm-cost-notify'; LISTEN {}",
            quote_ident(channel)
        ))?;
        Ok(Queue { client })
    }

    /// Claims at most one notification for `lease`, with whom it is about
    /// (budget name, `per`, per value, tenant) and its budget's `notify`. One
    /// at a time: the lease then only has to cover one notification's
    /// deliveries (see listener.rs).
    ///
    /// Budget alerts of llm_cost 0.3 name their budget, `per` and tenant in
    /// the payload; the budget's row is the fallback for alerts queued by an
    /// older extension, and the payload the fallback for a deleted budget.
    /// The `per` the alert was made under comes first: its per value is one
    /// of that dimension even if the budget changed since.
    pub fn claim_one(&mut self, lease: Duration) -> Result<Option<Notification>, postgres::Error> {
        let row = self.client.query_opt(
            "SELECT n.id, n.kind,
                    jsonb_build_object(
                        'id', n.id, 'kind', n.kind, 'budget_id', n.budget_id,
                        'budget_name', coalesce(b.name, n.payload->>'budget_name'),
                        'budget_per', coalesce(n.payload->>'per', b.per),
                        'period_start', n.period_start, 'per_value', n.per_value,
                        'tenant_id', coalesce(n.payload->'tenant_id',
                                              to_jsonb(coalesce(b.tenant_id,
                                                                CASE WHEN b.per = 'tenant_id' THEN n.per_value END))),
                        'threshold', n.threshold, 'payload', n.payload, 'created_at', n.created_at,
                        'attempts', n.attempts)::text,
                    b.notify::text
               FROM llm_cost.claim_notifications(1, make_interval(secs => $1::float8)) AS n
               LEFT JOIN llm_cost.budgets AS b ON b.id = n.budget_id",
            &[&lease.as_secs_f64()],
        )?;
        Ok(row.map(|r| {
            let body: String = r.get(2);
            let notify: Option<String> = r.get(3);
            Notification {
                id: r.get(0),
                kind: r.get(1),
                // jsonb's own text is always valid JSON
                body: serde_json::from_str(&body).unwrap_or_default(),
                notify: notify.and_then(|t| serde_json::from_str(&t).ok()),
            }
        }))
    }

    /// True when this ack marked it delivered; false when it already was.
    pub fn ack(&mut self, id: i64) -> Result<bool, postgres::Error> {
        Ok(self.client.query_one("SELECT llm_cost.ack_notification($1)", &[&id])?.get(0))
    }

    /// Records the failure; returns when the queue will offer it again (as
    /// text, for the log), None if it was delivered meanwhile.
    pub fn fail(&mut self, id: i64, error: &str) -> Result<Option<String>, postgres::Error> {
        Ok(self.client.query_one("SELECT llm_cost.fail_notification($1, $2)::text", &[&id, &error])?.get(0))
    }

    /// How long until the earliest undelivered notification can be claimed
    /// (after its backoff, or when another consumer's lease ends); None when
    /// nothing is pending. Lets a retry happen on time without polling fast.
    pub fn next_due(&mut self) -> Result<Option<Duration>, postgres::Error> {
        let secs: Option<f64> = self
            .client
            .query_one(
                "SELECT extract(epoch FROM min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at)))
                                           - clock_timestamp())::float8
                   FROM llm_cost.notifications WHERE delivered_at IS NULL",
                &[],
            )?
            .get(0);
        Ok(secs.map(|s| Duration::from_secs_f64(s.clamp(0.0, 1e7))))
    }
}
