//! What a notification says, in the three forms the routes take: the row as
//! JSON (generic webhooks), one human sentence (Slack, e-mail), and a
//! plain-text e-mail. Numbers (money, percentages, thresholds) are printed
//! with the digits PostgreSQL gave them: serde_json keeps them as decimal
//! text (`arbitrary_precision`), never f64.

use serde_json::{Map, Value};

/// One claimed notification, as `queue::claim` builds it in SQL: the row's
/// columns plus its budget's name and `per`.
#[derive(Clone, Debug)]
pub struct Notification {
    pub id: i64,
    pub kind: String,
    /// The JSON object sent to generic webhooks: `id`, `kind`, `budget_id`,
    /// `budget_name`, `budget_per`, `period_start`, `per_value`, `tenant_id`,
    /// `threshold`, `payload`, `created_at`, `attempts`.
    pub body: Value,
    /// The budget's `notify` column, if it has a budget.
    pub notify: Option<Value>,
}

impl Notification {
    fn field(&self, key: &str) -> Option<&Value> {
        self.body.get(key).filter(|v| !v.is_null())
    }

    fn payload(&self, key: &str) -> Option<&Value> {
        self.body.get("payload").and_then(|p| p.get(key)).filter(|v| !v.is_null())
    }

    /// A field as text: strings without quotes, numbers with their digits.
    fn text(v: Option<&Value>) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    fn f(&self, key: &str) -> Option<String> {
        Self::text(self.field(key))
    }

    fn p(&self, key: &str) -> Option<String> {
        Self::text(self.payload(key))
    }

    /// The budget by name, and whom the alert is about:
    /// `"every user" (user alice, tenant acme)`.
    fn budget_label(&self) -> String {
        let name = match (self.f("budget_name"), self.f("budget_id")) {
            (Some(name), _) => format!("\"{}\"", one_line(&name)),
            (None, Some(id)) => format!("#{id} (deleted)"),
            (None, None) => "(unknown)".into(),
        };
        let whom: Vec<String> = [self.per_value_label(), self.other_tenant()].into_iter().flatten().collect();
        if whom.is_empty() {
            name
        } else {
            format!("{name} ({})", whom.join(", "))
        }
    }

    /// The per value named by its dimension: `user alice`, `tenant acme`.
    fn per_value_label(&self) -> Option<String> {
        let value = one_line(&self.f("per_value")?);
        Some(match self.f("budget_per") {
            Some(per) => format!("{} {value}", dimension_word(&per)),
            None => value,
        })
    }

    /// `tenant acme` for the alert's tenant, unless the per value already
    /// says it (a budget kept per tenant_id).
    fn other_tenant(&self) -> Option<String> {
        let tenant = self.f("tenant_id")?;
        let said = self.f("budget_per").as_deref() == Some("tenant_id")
            && self.f("per_value").as_deref() == Some(tenant.as_str());
        (!said).then(|| format!("tenant {}", one_line(&tenant)))
    }

    /// One sentence a person reads first (Slack text, e-mail body's opening).
    pub fn summary(&self) -> String {
        let or = |v: Option<String>| v.unwrap_or_else(|| "?".into());
        match self.kind.as_str() {
            "budget_threshold" | "budget_exceeded" => {
                let spent = or(self.p("spent"));
                let amount = or(self.p("amount"));
                let currency = self.p("currency").unwrap_or_default();
                let percent = or(self.p("percent_used"));
                let threshold = or(self.f("threshold").or_else(|| self.p("threshold")));
                let period = match self.p("period").as_deref() {
                    Some("total") => "its total budget".to_string(),
                    Some(p) => format!("this {p}'s budget"),
                    None => "its budget".into(),
                };
                let verb = if self.kind == "budget_exceeded" { "is over" } else { "has used" };
                format!(
                    "Budget {} {verb} {percent}% of {period}: {spent} of {amount} {currency} spent (alert threshold {threshold}%).",
                    self.budget_label()
                )
                .replace("  ", " ")
            }
            "anomaly" => {
                let dimension = self.p("dimension").unwrap_or_else(|| "total".into());
                let who = match (dimension.as_str(), self.p("per_value")) {
                    ("total", _) => "total spend".to_string(),
                    (d, Some(v)) => format!("spend of {d} = {}", one_line(&v)),
                    (d, None) => format!("spend of {d}"),
                };
                format!(
                    "Spend anomaly on {}: {who} was {} against {} expected ({}, score {}).",
                    or(self.p("day")),
                    or(self.p("spend")),
                    or(self.p("expected")),
                    or(self.p("direction")),
                    or(self.p("score"))
                )
            }
            "unpriced_model" => format!(
                "Model \"{}/{}\" has usage but no price: its calls are recorded with cost NULL (see llm_cost.unpriced_usage).",
                one_line(&or(self.p("provider"))),
                one_line(&or(self.p("model")))
            ),
            other => format!("llm_cost notification ({}): {}", one_line(other), self.body.get("payload").unwrap_or(&Value::Null)),
        }
    }

    /// A short subject line.
    pub fn subject(&self) -> String {
        let s = match self.kind.as_str() {
            "budget_threshold" => format!(
                "Budget {} at {}% (threshold {}%)",
                self.budget_label(),
                self.p("percent_used").unwrap_or_default(),
                self.f("threshold").unwrap_or_default()
            ),
            "budget_exceeded" => {
                format!("Budget {} exceeded ({}%)", self.budget_label(), self.p("percent_used").unwrap_or_default())
            }
            "anomaly" => format!("Spend anomaly on {}", self.p("day").unwrap_or_default()),
            "unpriced_model" => format!(
                "Unpriced model {}/{}",
                self.p("provider").unwrap_or_default(),
                self.p("model").unwrap_or_default()
            ),
            other => format!("Notification #{} ({other})", self.id),
        };
        let s = one_line(&format!("[llm_cost] {s}"));
        if s.chars().count() > 200 {
            s.chars().take(199).collect::<String>() + "…"
        } else {
            s
        }
    }

    /// The JSON body for generic webhooks.
    pub fn webhook_json(&self) -> String {
        self.body.to_string()
    }

    /// The JSON body for Slack-compatible webhooks: `{"text": ...}`.
    pub fn slack_json(&self) -> String {
        let text = format!("{} (llm_cost notification #{})", slack_escape(&self.summary()), self.id);
        let mut m = Map::new();
        m.insert("text".into(), Value::String(text));
        Value::Object(m).to_string()
    }

    /// The plain-text body of an e-mail.
    pub fn email_text(&self) -> String {
        let mut out = self.summary();
        out.push_str("\n\n");
        // "Per user: alice" for a budget kept per user_id
        let per_line = match self.f("budget_per") {
            Some(per) => format!("Per {}", dimension_word(&one_line(&per))),
            None => "Per value".into(),
        };
        let fields = [
            ("Notification", self.f("id")),
            ("Kind", self.f("kind")),
            ("Budget", self.f("budget_name")),
            ("Budget id", self.f("budget_id")),
            (per_line.as_str(), self.f("per_value")),
            ("Tenant", self.f("tenant_id")),
            ("Period start", self.f("period_start")),
            ("Period end", self.p("period_end")),
            ("Threshold", self.f("threshold").map(|t| format!("{t}%"))),
            ("Spent", self.p("spent")),
            ("Amount", self.p("amount")),
            ("Currency", self.p("currency")),
            ("Created", self.f("created_at")),
        ];
        for (label, value) in fields {
            if let Some(v) = value {
                out.push_str(&format!("{label}: {}\n", one_line(&v)));
            }
        }
        out.push_str("\nThe notification as JSON:\n");
        out.push_str(&serde_json::to_string_pretty(&self.body).unwrap_or_default());
        out.push('\n');
        out
    }
}

/// A dimension as a word: `user_id` -> `user`, `operation` stays.
fn dimension_word(dimension: &str) -> &str {
    dimension.strip_suffix("_id").unwrap_or(dimension)
}

/// No line breaks or other control characters: names go into one-line
/// places (a Slack sentence, a Subject header).
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(kind: &str, body: &str) -> Notification {
        let body: Value = serde_json::from_str(body).unwrap();
        Notification { id: body["id"].as_i64().unwrap(), kind: kind.into(), body, notify: None }
    }

    #[test]
    fn budget_sentences_keep_the_digits() {
        let x = n(
            "budget_threshold",
            r#"{"id": 7, "kind": "budget_threshold", "budget_id": 1, "budget_name": "team <a>", "budget_per": "user_id",
                "per_value": "u1", "threshold": 80, "payload": {"spent": 8.250000000001, "amount": 10.00, "currency": "USD",
                "percent_used": 82.50, "period": "month", "threshold": 80}}"#,
        );
        assert_eq!(
            x.summary(),
            "Budget \"team <a>\" (user u1) has used 82.50% of this month's budget: 8.250000000001 of 10.00 USD spent (alert threshold 80%)."
        );
        assert_eq!(x.subject(), "[llm_cost] Budget \"team <a>\" (user u1) at 82.50% (threshold 80%)");
        let slack: Value = serde_json::from_str(&x.slack_json()).unwrap();
        assert!(slack["text"].as_str().unwrap().starts_with("Budget \"team &lt;a&gt;\""));
        assert!(x.webhook_json().contains("8.250000000001"));
        assert!(x.email_text().contains("Spent: 8.250000000001\n"));
    }

    #[test]
    fn budget_alerts_say_whom_they_are_about() {
        let alert = |per: &str, per_value: &str, tenant: &str| {
            n(
                "budget_exceeded",
                &format!(
                    r#"{{"id": 8, "kind": "budget_exceeded", "budget_id": 2, "budget_name": "every user",
                        "budget_per": {per}, "per_value": {per_value}, "tenant_id": {tenant}, "threshold": 100,
                        "payload": {{"spent": 5.5, "amount": 5, "currency": "USD", "percent_used": 110.00,
                                     "period": "day", "budget_name": "every user", "per": {per},
                                     "per_value": {per_value}, "tenant_id": {tenant}}}}}"#
                ),
            )
        };
        let x = alert(r#""user_id""#, r#""alice""#, r#""acme""#);
        assert_eq!(
            x.summary(),
            "Budget \"every user\" (user alice, tenant acme) is over 110.00% of this day's budget: 5.5 of 5 USD spent (alert threshold 100%)."
        );
        assert_eq!(x.subject(), "[llm_cost] Budget \"every user\" (user alice, tenant acme) exceeded (110.00%)");
        let slack: Value = serde_json::from_str(&x.slack_json()).unwrap();
        assert!(slack["text"].as_str().unwrap().starts_with("Budget \"every user\" (user alice, tenant acme) is over"));
        let mail = x.email_text();
        assert!(mail.contains("\nBudget: every user\nBudget id: 2\nPer user: alice\nTenant: acme\n"), "{mail}");
        let hook: Value = serde_json::from_str(&x.webhook_json()).unwrap();
        for key in ["budget_name", "per_value", "tenant_id"] {
            assert_eq!(hook[key], hook["payload"][key], "{key}");
            assert!(hook[key].is_string(), "{key}");
        }
        // per tenant_id: the tenant is said once
        let x = alert(r#""tenant_id""#, r#""acme""#, r#""acme""#);
        assert!(x.summary().starts_with("Budget \"every user\" (tenant acme) is over"), "{}", x.summary());
        assert!(x.email_text().contains("\nPer tenant: acme\nTenant: acme\n"));
        // a budget of one tenant without per, and one of everybody
        let x = alert("null", "null", r#""acme""#);
        assert!(x.summary().starts_with("Budget \"every user\" (tenant acme) is over"), "{}", x.summary());
        let x = alert("null", "null", "null");
        assert!(x.summary().starts_with("Budget \"every user\" is over"), "{}", x.summary());
        assert!(!x.email_text().contains("Tenant:"));
    }

    #[test]
    fn other_kinds() {
        let x = n(
            "unpriced_model",
            r#"{"id": 2, "kind": "unpriced_model", "payload": {"provider": "acme", "model": "m-1"}}"#,
        );
        assert!(x.summary().starts_with("Model \"acme/m-1\" has usage but no price"));
        let x = n(
            "anomaly",
            r#"{"id": 3, "kind": "anomaly", "payload": {"day": "2026-05-04", "dimension": "tenant_id", "per_value": "t1",
                "spend": 120.5, "expected": 20, "score": 6.1, "direction": "spike"}}"#,
        );
        assert_eq!(
            x.summary(),
            "Spend anomaly on 2026-05-04: spend of tenant_id = t1 was 120.5 against 20 expected (spike, score 6.1)."
        );
        let x = n(
            "budget_exceeded",
            r#"{"id": 4, "kind": "budget_exceeded", "budget_id": 9, "payload": {"period": "total"}}"#,
        );
        assert!(x.summary().starts_with("Budget #9 (deleted) is over ?% of its total budget"));
        let x = n("something_new", r#"{"id": 5, "kind": "something_new", "payload": {"a\nb": 1}}"#);
        assert!(!x.subject().contains('\n'));
    }
}
