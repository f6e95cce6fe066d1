//! Settings: a TOML file (`--config PATH` or `LLM_COST_NOTIFY_CONFIG`), then
//! environment variables, which override the file key by key. See README.md
//! for every key; `database_url` is the only one without a default.

use crate::routing::{check_email, Routes};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Config {
    /// libpq-style `key=value` string or `postgresql://` URL (no TLS: see README).
    pub database_url: String,
    /// The channel to LISTEN on; the extension's `llm_cost.notify_channel`.
    pub channel: String,
    /// How often to drain the queue when no NOTIFY arrives.
    pub poll_interval: Duration,
    /// The lease asked of `claim_notifications`: how long a claimed row stays
    /// ours before another consumer may take it.
    pub lease: Duration,
    /// The whole of one HTTP request (connect, send, response).
    pub http_timeout: Duration,
    pub smtp: Option<SmtpConfig>,
    /// Routes for notifications without a budget or whose budget has no routing.
    pub defaults: Routes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// The envelope sender and From: address.
    pub from: String,
    /// The name given in EHLO.
    pub helo: String,
    /// The whole of one SMTP session (connect to QUIT).
    pub timeout: Duration,
}

impl Config {
    /// The longest any one delivery may take.
    pub fn route_timeout(&self) -> Duration {
        let smtp = self.smtp.as_ref().map(|s| s.timeout).unwrap_or_default();
        self.http_timeout.max(smtp)
    }
}

/// Kept between a route's start and the lease's end: time to ack before
/// another consumer could claim the row.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    channel: Option<String>,
    poll_interval_secs: Option<f64>,
    lease_secs: Option<f64>,
    http_timeout_secs: Option<f64>,
    smtp: Option<FileSmtp>,
    defaults: Option<Routes>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSmtp {
    host: Option<String>,
    port: Option<u16>,
    from: Option<String>,
    helo: Option<String>,
    timeout_secs: Option<f64>,
}

pub const ENV_PREFIX: &str = "LLM_COST_NOTIFY_";

impl Config {
    /// Reads the file (if any) and the process environment.
    pub fn load(path: Option<&str>) -> Result<Config, String> {
        let text = match path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("cannot read config file {p}: {e}"))?),
            None => None,
        };
        Config::from_parts(text.as_deref(), |name| std::env::var(format!("{ENV_PREFIX}{name}")).ok())
    }

    /// `env(NAME)` returns the variable `LLM_COST_NOTIFY_NAME`.
    pub fn from_parts(file: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let file: FileConfig = match file {
            Some(t) => toml::from_str(t).map_err(|e| format!("config file: {e}"))?,
            None => FileConfig::default(),
        };
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let secs = |name: &str, from_file: Option<f64>, default: f64| -> Result<Duration, String> {
            let v = match env(name) {
                Some(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{ENV_PREFIX}{name}: not a number of seconds: {s:?}"))?,
                None => from_file.unwrap_or(default),
            };
            if !(v.is_finite() && v > 0.0 && v < 1e7) {
                return Err(format!("{}: must be a positive number of seconds, got {v}", name.to_lowercase()));
            }
            Ok(Duration::from_secs_f64(v))
        };
        let list = |name: &str, from_file: Vec<String>| -> Vec<String> {
            match env(name) {
                Some(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
                None => from_file,
            }
        };

        let database_url = env("DATABASE_URL")
            .or(file.database_url)
            .ok_or_else(|| format!("no database: set database_url in the config file or {ENV_PREFIX}DATABASE_URL"))?;
        let channel = env("CHANNEL").or(file.channel).unwrap_or_else(|| "llm_cost".into());
        if channel.is_empty() || channel.len() > 63 {
            return Err(format!("channel must be 1 to 63 bytes, got {channel:?}"));
        }
        let fdefaults = file.defaults.unwrap_or_default();
        let defaults = Routes {
            webhooks: list("DEFAULT_WEBHOOKS", fdefaults.webhooks),
            slack: list("DEFAULT_SLACK", fdefaults.slack),
            emails: list("DEFAULT_EMAILS", fdefaults.emails),
        };
        defaults.validate().map_err(|e| format!("default routes: {e}"))?;

        let fsmtp = file.smtp.unwrap_or_default();
        let smtp = match env("SMTP_HOST").or(fsmtp.host) {
            None => None,
            Some(host) => {
                let port = match env("SMTP_PORT") {
                    Some(p) => {
                        p.trim().parse::<u16>().map_err(|_| format!("{ENV_PREFIX}SMTP_PORT: not a port: {p:?}"))?
                    }
                    None => fsmtp.port.unwrap_or(25),
                };
                let from = env("SMTP_FROM").or(fsmtp.from).ok_or_else(|| {
                    "smtp.from (or LLM_COST_NOTIFY_SMTP_FROM) is required with an SMTP host".to_string()
                })?;
                check_email(&from).map_err(|e| format!("smtp.from: {e}"))?;
                let helo = env("SMTP_HELO").or(fsmtp.helo).unwrap_or_else(|| "localhost".into());
                if helo.is_empty() || !helo.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(format!("smtp.helo must be a host name, got {helo:?}"));
                }
                Some(SmtpConfig {
                    host,
                    port,
                    from,
                    helo,
                    timeout: secs("SMTP_TIMEOUT_SECS", fsmtp.timeout_secs, 10.0)?,
                })
            }
        };
        if smtp.is_none() && !defaults.emails.is_empty() {
            return Err("default e-mail routes need an SMTP server (smtp.host)".into());
        }

        let config = Config {
            database_url,
            channel,
            poll_interval: secs("POLL_INTERVAL_SECS", file.poll_interval_secs, 30.0)?,
            lease: secs("LEASE_SECS", file.lease_secs, 300.0)?,
            http_timeout: secs("HTTP_TIMEOUT_SECS", file.http_timeout_secs, 10.0)?,
            smtp,
            defaults,
        };
        // A claimed notification must be deliverable to at least one route
        // within its lease, else nothing would ever be delivered.
        if config.lease < config.route_timeout() + LEASE_MARGIN * 2 {
            return Err(format!(
                "lease_secs ({:?}) must exceed the longest delivery timeout ({:?}) by at least {:?}",
                config.lease,
                config.route_timeout(),
                LEASE_MARGIN * 2
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Config, String> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_parts(file, |k| env.get(k).cloned())
    }

    #[test]
    fn defaults_and_env_override_file() {
        let c = load(None, &[("DATABASE_URL", "host=/tmp dbname=x")]).unwrap();
        assert_eq!(c.channel, "llm_cost");
        assert_eq!(c.poll_interval, Duration::from_secs(30));
        assert_eq!(c.lease, Duration::from_secs(300));
        assert!(c.smtp.is_none() && c.defaults.is_empty());

        let file = r#"
            database_url = "host=/file dbname=f"
            channel = "alerts"
            poll_interval_secs = 5
            lease_secs = 120.5
            [smtp]
            host = "127.0.0.1"
            port = 2525
            from = "llm-cost@example.com"
            [defaults]
            webhooks = ["http://127.0.0.1:9/hook"]
            emails = ["ops@example.com"]
        "#;
        let c = load(
            Some(file),
            &[("POLL_INTERVAL_SECS", "0.5"), ("DEFAULT_WEBHOOKS", "http://a.example/1, http://b.example/2")],
        )
        .unwrap();
        assert_eq!(c.database_url, "host=/file dbname=f");
        assert_eq!(c.channel, "alerts");
        assert_eq!(c.poll_interval, Duration::from_millis(500));
        assert_eq!(c.lease, Duration::from_secs_f64(120.5));
        assert_eq!(c.defaults.webhooks, vec!["http://a.example/1", "http://b.example/2"]);
        assert_eq!(c.defaults.emails, vec!["ops@example.com"]);
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port, smtp.helo.as_str()), ("127.0.0.1", 2525, "localhost"));
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(load(None, &[]).unwrap_err().contains("no database"));
        assert!(load(Some("databse_url = 'x'"), &[]).unwrap_err().contains("unknown field"));
        let db = ("DATABASE_URL", "x");
        assert!(load(None, &[db, ("LEASE_SECS", "10")]).unwrap_err().contains("lease_secs"));
        assert!(load(None, &[db, ("POLL_INTERVAL_SECS", "-1")]).is_err());
        assert!(load(None, &[db, ("DEFAULT_EMAILS", "ops@example.com")]).unwrap_err().contains("SMTP"));
        assert!(load(None, &[db, ("SMTP_HOST", "localhost")]).unwrap_err().contains("smtp.from"));
        assert!(load(None, &[db, ("DEFAULT_WEBHOOKS", "file:///etc/passwd")]).is_err());
    }

    #[test]
    fn the_example_file_is_valid() {
        let c = load(Some(include_str!("../llm-cost-notify.example.toml")), &[]).unwrap();
        assert_eq!(c.defaults.emails, vec!["ops@example.com"]);
        assert_eq!(c.smtp.unwrap().port, 25);
    }
}
