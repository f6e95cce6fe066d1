//! `llm-cost-notify [--config FILE] [--once]`: see README.md.

use llm_cost_notify::config::Config;
use llm_cost_notify::listener::Listener;
use llm_cost_notify::{error, info};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const USAGE: &str = "usage: llm-cost-notify [--config FILE] [--once]

Delivers llm_cost alerts (budget thresholds, anomalies, unpriced models) from
the extension's notification queue to webhooks, Slack and e-mail.

  --config FILE  a TOML config file (default: $LLM_COST_NOTIFY_CONFIG, if set);
                 LLM_COST_NOTIFY_* environment variables override its keys
  --once         deliver what is due, then exit (1 if any delivery failed)
  --help         this text
  --version      the version";

fn main() -> ExitCode {
    let mut config_path = std::env::var("LLM_COST_NOTIFY_CONFIG").ok().filter(|p| !p.is_empty());
    let mut once = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => once = true,
            "--config" => match args.next() {
                Some(p) => config_path = Some(p),
                None => return usage_error("--config needs a file name"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" | "-V" => {
                println!("llm-cost-notify {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument {other:?}")),
        }
    }
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };

    // First SIGTERM/SIGINT: finish the notification in hand, then exit.
    // A second one: exit at once.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let registered = signal_hook::flag::register_conditional_shutdown(signal, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(signal, stop.clone()));
        if let Err(e) = registered {
            error!("cannot handle signal {signal}: {e}");
            return ExitCode::from(1);
        }
    }

    info!(
        "llm-cost-notify {} starting{}: channel {:?}, poll every {:?}, lease {:?}",
        env!("CARGO_PKG_VERSION"),
        if once { " (once)" } else { "" },
        config.channel,
        config.poll_interval,
        config.lease
    );
    match Listener::new(config, stop).run(once) {
        Ok(stats) if once && stats.failed > 0 => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("llm-cost-notify: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
