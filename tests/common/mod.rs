//! A throwaway PostgreSQL 15 cluster for client tests: initdb into a fresh
//! directory as the `postgres` OS user, start it on a private socket and a
//! free loopback port, stop and delete it on drop. The extension must already
//! be installed into the system PostgreSQL (`cargo pgrx test` or
//! `cargo pgrx install` does that).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct TestCluster {
    pub dir: PathBuf,
    pub port: u16,
}

fn as_postgres(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let bin = format!("{PG_BIN}/{program}");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &bin]);
        c
    } else {
        Command::new(&bin)
    };
    let out = cmd.args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestCluster {
    /// Starts a new cluster; `extra_conf` lines are appended to postgresql.conf.
    pub fn start(name: &str, extra_conf: &[&str]) -> TestCluster {
        let dir = std::env::temp_dir().join(format!("llm_cost_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap().success();
            assert!(ok, "chown {dir:?}");
        }
        let data = dir.join("data");
        as_postgres(&dir, "initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        let port = free_port();
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 60\n",
            dir.display()
        );
        for line in extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = data.join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).unwrap();
        let log = dir.join("server.log");
        as_postgres(&dir, "pg_ctl", &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "60", "start"]);
        TestCluster { dir, port }
    }

    pub fn conn_string(&self, db: &str) -> String {
        format!("host={} port={} user=postgres dbname={db}", self.dir.display(), self.port)
    }

    pub fn connect(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.conn_string(db), postgres::NoTls).expect("connect to test cluster")
    }

    /// Kills the postmaster and every backend with SIGKILL (a crash), then
    /// starts the server again; it recovers from its WAL.
    pub fn crash_and_restart(&self) {
        let data = self.dir.join("data");
        let pid = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        let children = Command::new("pgrep").args(["-P", &pid]).output().unwrap();
        let mut victims = vec![pid.clone()];
        victims.extend(String::from_utf8_lossy(&children.stdout).split_whitespace().map(str::to_string));
        let status = Command::new("kill").arg("-9").args(&victims).status().unwrap();
        assert!(status.success(), "kill -9 {victims:?}");
        // wait for them to be gone before starting again
        for _ in 0..100 {
            let alive = Command::new("kill").args(["-0", &pid]).status().map(|s| s.success()).unwrap_or(false);
            if !alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let log = self.dir.join("server.log");
        as_postgres(&self.dir, "pg_ctl", &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "60", "start"]);
    }

    /// A fresh database with the extension created in it.
    pub fn database_with_extension(&self, db: &str) -> postgres::Client {
        let mut admin = self.connect("postgres");
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let mut client = self.connect(db);
        client.batch_execute("CREATE EXTENSION llm_cost").expect("CREATE EXTENSION llm_cost");
        client
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new(if is_root() { "runuser" } else { "env" })
            .args(if is_root() { vec!["-u", "postgres", "--"] } else { vec![] })
            .arg(format!("{PG_BIN}/pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(err: &postgres::Error) -> String {
    err.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {err}"))
}
