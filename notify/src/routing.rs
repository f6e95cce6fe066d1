//! Where a notification goes.
//!
//! The routing shape of `llm_cost.budgets.notify` (the extension stores it and
//! never interprets it; this listener does):
//!
//! ```json
//! {"webhooks": ["https://alerts.example.com/llm-cost"],
//!  "slack":    ["https://hooks.slack.com/services/T000/B000/XXXX"],
//!  "emails":   ["ops@example.com", "finance@example.com"]}
//! ```
//!
//! Each key takes an array of strings or a single string; all keys are
//! optional. A NULL `notify`, JSON `null` or `{}` means "use the listener's
//! default routes". An object with at least one of the keys means exactly
//! those routes, so `{"emails": []}` silences a budget. Unknown keys are an
//! error (a typo such as `"email"` must not silently drop alerts), as is any
//! other shape: the notification is failed with that error in `last_error`,
//! and delivered once the budget's `notify` is fixed.

use serde_json::Value;
use std::fmt;

/// A set of routes: the budget's, or the listener's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    #[serde(default)]
    pub webhooks: Vec<String>,
    #[serde(default)]
    pub slack: Vec<String>,
    #[serde(default)]
    pub emails: Vec<String>,
}

/// One destination of one notification.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// POST the notification as JSON.
    Webhook(String),
    /// POST `{"text": ...}` (Slack incoming webhooks, and the many chat tools
    /// that accept the same).
    Slack(String),
    /// A plain-text e-mail to this address.
    Email(String),
}

impl Route {
    /// A stable key for remembering which routes already got a notification.
    pub fn key(&self) -> String {
        match self {
            Route::Webhook(u) => format!("webhook {u}"),
            Route::Slack(u) => format!("slack {u}"),
            Route::Email(a) => format!("email {a}"),
        }
    }
}

/// For logs and `last_error`: webhook URLs often carry a secret (Slack's
/// always do), so only their scheme and host are shown.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Route::Webhook(u) => write!(f, "webhook {}", redact_url(u)),
            Route::Slack(u) => write!(f, "slack {}", redact_url(u)),
            Route::Email(a) => write!(f, "email {a}"),
        }
    }
}

/// `https://hooks.slack.com/services/T/B/secret` -> `https://hooks.slack.com/…`
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "<invalid url>".into() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // drop any user:password@ too
    let host = rest[..end].rsplit('@').next().unwrap_or("");
    let more = if end < rest.len() && &rest[end..] != "/" { "/…" } else { "" };
    format!("{scheme}://{host}{more}")
}

impl Routes {
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty() && self.slack.is_empty() && self.emails.is_empty()
    }

    /// Every route, in a fixed order, without duplicates.
    pub fn list(&self) -> Vec<Route> {
        let mut out: Vec<Route> = Vec::new();
        let all = self
            .webhooks
            .iter()
            .map(|u| Route::Webhook(u.clone()))
            .chain(self.slack.iter().map(|u| Route::Slack(u.clone())))
            .chain(self.emails.iter().map(|a| Route::Email(a.clone())));
        for r in all {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// Checks every URL and address; the error names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        for u in self.webhooks.iter().chain(&self.slack) {
            check_url(u)?;
        }
        for a in &self.emails {
            check_email(a)?;
        }
        Ok(())
    }
}

fn check_url(u: &str) -> Result<(), String> {
    let ok = (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() > "https://".len()
        && !u.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(format!("not an http(s) URL: {:?}", redact_url(u)))
    }
}

/// Addresses go into SMTP commands and headers verbatim: no CR/LF, angle
/// brackets or spaces, ASCII only (no SMTPUTF8), and an @.
pub fn check_email(a: &str) -> Result<(), String> {
    let ok = a.is_ascii()
        && !a.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control() || matches!(c, '<' | '>' | ',' | ';'))
        && matches!(a.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty());
    if ok {
        Ok(())
    } else {
        Err(format!("not a plain e-mail address: {a:?}"))
    }
}

/// The routes of a budget's `notify`, or None when it defers to the defaults.
pub fn parse_notify(notify: Option<&Value>) -> Result<Option<Routes>, String> {
    let obj = match notify {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) if o.is_empty() => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(format!("budget notify must be a JSON object, not {}", kind_of(other))),
    };
    let mut routes = Routes::default();
    for (key, value) in obj {
        let list = match key.as_str() {
            "webhooks" => &mut routes.webhooks,
            "slack" => &mut routes.slack,
            "emails" => &mut routes.emails,
            _ => return Err(format!("budget notify has an unknown key {key:?} (known: webhooks, slack, emails)")),
        };
        match value {
            Value::String(s) => list.push(s.clone()),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => list.push(s.clone()),
                        other => {
                            return Err(format!("budget notify {key:?} must hold strings, not {}", kind_of(other)))
                        }
                    }
                }
            }
            Value::Null => {}
            other => {
                return Err(format!(
                    "budget notify {key:?} must be a string or an array of strings, not {}",
                    kind_of(other)
                ))
            }
        }
    }
    routes.validate().map_err(|e| format!("budget notify: {e}"))?;
    Ok(Some(routes))
}

/// The routes one notification goes to: its budget's, else the defaults.
pub fn resolve(notify: Option<&Value>, defaults: &Routes) -> Result<Vec<Route>, String> {
    Ok(match parse_notify(notify)? {
        Some(routes) => routes.list(),
        None => defaults.list(),
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Routes {
        Routes { webhooks: vec!["http://127.0.0.1:1/default".into()], ..Routes::default() }
    }

    #[test]
    fn shapes() {
        let d = defaults();
        assert_eq!(resolve(None, &d).unwrap(), vec![Route::Webhook("http://127.0.0.1:1/default".into())]);
        assert_eq!(resolve(Some(&json!(null)), &d).unwrap(), d.list());
        assert_eq!(resolve(Some(&json!({})), &d).unwrap(), d.list());
        assert_eq!(resolve(Some(&json!({"emails": []})), &d).unwrap(), vec![]);
        let r = resolve(
            Some(&json!({"webhooks": "https://a.example/x", "slack": ["https://hooks.slack.com/s/1"],
                         "emails": ["a@example.com", "b@example.com", "a@example.com"]})),
            &d,
        )
        .unwrap();
        assert_eq!(
            r,
            vec![
                Route::Webhook("https://a.example/x".into()),
                Route::Slack("https://hooks.slack.com/s/1".into()),
                Route::Email("a@example.com".into()),
                Route::Email("b@example.com".into()),
            ]
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        let d = defaults();
        assert!(resolve(Some(&json!({"email": ["a@example.com"]})), &d).unwrap_err().contains("unknown key \"email\""));
        assert!(resolve(Some(&json!(["a@example.com"])), &d).unwrap_err().contains("JSON object"));
        assert!(resolve(Some(&json!({"emails": [1]})), &d).unwrap_err().contains("strings"));
        assert!(resolve(Some(&json!({"webhooks": ["ftp://x"]})), &d).is_err());
        assert!(resolve(Some(&json!({"emails": ["a@b.com\r\nRCPT TO:<x@y>"]})), &d).is_err());
        assert!(resolve(Some(&json!({"emails": ["nobody"]})), &d).is_err());
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("https://hooks.slack.com/services/T/B/secret"), "https://hooks.slack.com/…");
        assert_eq!(redact_url("http://user:pw@127.0.0.1:8080/hook?token=1"), "http://127.0.0.1:8080/…");
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(Route::Slack("https://h.example/abc".into()).to_string(), "slack https://h.example/…");
    }
}
