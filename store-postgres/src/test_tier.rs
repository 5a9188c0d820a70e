//! The fleet's HA store tier for tests (feature `test-server`): 3 etcd
//! members and 3 Patroni-managed PostgreSQL 15 nodes with synchronous
//! replication (`synchronous_mode_strict`), on free loopback ports, started
//! and stopped by `scripts/store-tier.sh` (which says why each setting).
//! The tier stops (no process left) and its folder goes when the
//! [`TestTier`] drops, also when a test fails.
//!
//! It stands in for [`TestServer`](crate::test_server::TestServer) with one
//! line: [`TestTier::conninfo_for`] hands out a fresh database the same
//! way, as a libpq multi-host string
//! (`host=127.0.0.1,127.0.0.1,127.0.0.1 port=A,B,C … target_session_attrs=read-write`)
//! that reaches whichever node is the leader, before and after a failover.
//!
//! Without etcd, Patroni's venv or PostgreSQL 15, [`TestTier::start`] says
//! so loudly and answers `None` (skipped), or panics where
//! `ROSTER_TESTS_REQUIRE_ALL=1`.

// A failure here is the calling test's failure: panicking with the
// tier's logs is the clearest way to say it.
#![allow(clippy::panic)]

use crate::test_server::{PG_BIN, server_user, skip_or_fail};
use postgres::NoTls;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where `roster_install_patroni` (scripts/deps.sh) builds Patroni's venv.
pub const PATRONI_VENV: &str = "/opt/roster-patroni";

/// A running tier: stopped and removed on drop.
pub struct TestTier {
    dir: tempfile::TempDir,
    /// PostgreSQL's port of node 0, 1 and 2.
    pg_ports: [u16; 3],
    /// Numbers each database handed out.
    next: AtomicU32,
}

impl std::fmt::Debug for TestTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTier")
            .field("dir", &self.dir.path())
            .field("pg_ports", &self.pg_ports)
            .finish_non_exhaustive()
    }
}

/// The script that starts and stops the tier.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/store-tier.sh")
}

impl TestTier {
    /// Start a tier and wait for its leader and synchronous standby;
    /// `None` (after a loud message on stderr) when a piece is missing,
    /// unless `ROSTER_TESTS_REQUIRE_ALL=1`, which makes that a panic.
    pub fn start() -> Option<TestTier> {
        if let Err(why) = server_user().and_then(|_| tools_present()) {
            skip_or_fail(&why);
            return None;
        }
        // In /tmp, not $TMPDIR: the postgres user must reach the folder
        // (a TMPDIR under /root is 0700), and the sockets' paths must stay
        // under the 107 bytes a unix socket name allows.
        let dir = tempfile::Builder::new()
            .prefix("roster-tier-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("can't make the tier's folder in /tmp: {e}"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("can't open {} to postgres: {e}", dir.path().display()));
        let started = Instant::now();
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("can't run {}: {e}", script().display()));
        if !out.status.success() {
            // Whatever did start is stopped before the folder goes.
            let _ = Command::new(script()).arg("stop").arg(dir.path()).output();
            panic!(
                "the store tier didn't start:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env = std::fs::read_to_string(dir.path().join("tier.env"))
            .unwrap_or_else(|e| panic!("the tier wrote no tier.env: {e}"));
        let pg_ports = ports(&env, "PG_PORTS");
        let tier = TestTier {
            dir,
            pg_ports,
            next: AtomicU32::new(0),
        };
        eprintln!(
            "store tier up in {:?} (PostgreSQL on {:?}, folder {})",
            started.elapsed(),
            tier.pg_ports,
            tier.dir.path().display()
        );
        Some(tier)
    }

    /// The tier's folder (data, sockets, logs, `tier.env`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// PostgreSQL's ports, node 0, 1 and 2.
    pub fn ports(&self) -> [u16; 3] {
        self.pg_ports
    }

    /// The superuser's multi-host connection string to the `postgres`
    /// database: whichever node takes writes.
    pub fn admin_conninfo(&self) -> String {
        self.conninfo("postgres")
    }

    /// A fresh, empty database of its own (named after `name`, plus a
    /// number) and the multi-host connection string to it, as
    /// [`TestServer::conninfo_for`](crate::test_server::TestServer::conninfo_for)
    /// answers.
    pub fn conninfo_for(&self, name: &str) -> String {
        let database = format!(
            "{}_{}",
            crate::test_server::identifier(name),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = self.connect_writable(Duration::from_secs(60));
        if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {database}")) {
            panic!("CREATE DATABASE {database} failed: {e}\n{}", self.logs());
        }
        self.conninfo(&database)
    }

    /// The multi-host connection string to `database`.
    pub fn conninfo(&self, database: &str) -> String {
        let ports: Vec<String> = self.pg_ports.iter().map(u16::to_string).collect();
        format!(
            "host=127.0.0.1,127.0.0.1,127.0.0.1 port={} user=postgres dbname={database} \
             target_session_attrs=read-write connect_timeout=1",
            ports.join(",")
        )
    }

    /// The connection string to one node's `database` (whatever its role).
    pub fn node_conninfo(&self, node: usize, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={database} connect_timeout=1",
            self.pg_ports[node]
        )
    }

    /// The node whose PostgreSQL takes writes now, if one does.
    pub fn leader(&self) -> Option<usize> {
        (0..3).find(|&node| {
            let Ok(config) = self
                .node_conninfo(node, "postgres")
                .parse::<postgres::Config>()
            else {
                return false;
            };
            config.connect(NoTls).is_ok_and(|mut client| {
                client
                    .query_one("SELECT NOT pg_is_in_recovery()", &[])
                    .is_ok_and(|row| row.get::<_, bool>(0))
            })
        })
    }

    /// SIGKILL the leader's PostgreSQL and its Patroni, as when its
    /// machine dies (killing PostgreSQL alone, its Patroni would restart
    /// it as the leader again within seconds: no failover). The others
    /// elect a new leader once the leader key's ttl (20 s) runs out.
    /// Answers the node killed; [`TestTier::start_node`] brings it back.
    pub fn kill_leader(&self) -> usize {
        let node = self
            .leader()
            .unwrap_or_else(|| panic!("no leader to kill:\n{}", self.logs()));
        let node_dir = self.dir.path().join(format!("node{node}"));
        for pid_file in [
            node_dir.join("patroni.pid"),
            node_dir.join("data/postmaster.pid"),
        ] {
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.lines().next()?.trim().parse::<libc::pid_t>().ok())
                .unwrap_or_else(|| panic!("no pid in {}", pid_file.display()));
            // SAFETY: kill has no memory preconditions; the pid is the tier's.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        node
    }

    /// Start node `node`'s Patroni again (it rejoins as a replica,
    /// rewinding its data if it must).
    pub fn start_node(&self, node: usize) {
        let out = Command::new(script())
            .arg("start-node")
            .arg(self.dir.path())
            .arg(node.to_string())
            .output()
            .unwrap_or_else(|e| panic!("can't run {}: {e}", script().display()));
        if !out.status.success() {
            panic!(
                "node {node} didn't start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Wait until a write commits (which under synchronous replication
    /// needs a leader and a synchronous standby); answers how long that
    /// took. Panics with the tier's logs after `within`.
    pub fn wait_writable(&self, within: Duration) -> Duration {
        let started = Instant::now();
        drop(self.connect_writable(within));
        started.elapsed()
    }

    /// A connection to the leader on which a write just committed.
    fn connect_writable(&self, within: Duration) -> postgres::Client {
        let started = Instant::now();
        loop {
            // A commit waits for its synchronous standby for as long as
            // there is none: probed on a thread, abandoned if it hangs.
            let conninfo = self.admin_conninfo();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let probe = conninfo
                    .parse::<postgres::Config>()
                    .map_err(|e| e.to_string())
                    .and_then(|config| config.connect(NoTls).map_err(|e| e.to_string()))
                    .and_then(|mut client| {
                        client
                            .batch_execute("BEGIN; SELECT txid_current(); COMMIT")
                            .map(|()| client)
                            .map_err(|e| e.to_string())
                    });
                let _ = tx.send(probe);
            });
            let left = within.saturating_sub(started.elapsed());
            match rx.recv_timeout(left.min(Duration::from_secs(5))) {
                Ok(Ok(client)) => return client,
                Ok(Err(_)) | Err(_) if started.elapsed() < within => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok(Err(e)) => panic!(
                    "the tier took no write within {within:?} ({e}):\n{}",
                    self.logs()
                ),
                Err(_) => panic!(
                    "the tier took no write within {within:?} (a commit hung):\n{}",
                    self.logs()
                ),
            }
        }
    }

    /// A `pg_basebackup` of the leader into `dest` (which must not exist;
    /// its parent must be writable by the postgres user): a data folder a
    /// plain PostgreSQL can start from, e.g.
    /// [`TestServer::start_from`](crate::test_server::TestServer::start_from).
    pub fn basebackup(&self, dest: &Path) {
        let leader = self
            .leader()
            .unwrap_or_else(|| panic!("no leader to back up:\n{}", self.logs()));
        let mut command = Command::new(Path::new(PG_BIN).join("pg_basebackup"));
        command
            .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "stream"])
            .args(["--checkpoint=fast", "--no-sync", "-p"])
            .arg(self.pg_ports[leader].to_string())
            .arg("-D")
            .arg(dest);
        if let Ok(Some((uid, gid))) = server_user() {
            command.uid(uid).gid(gid);
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("can't run pg_basebackup: {e}"));
        if !out.status.success() {
            panic!(
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The tail of every log of the tier (for a failure message).
    pub fn logs(&self) -> String {
        let mut all = String::new();
        let mut files = vec![];
        for node in 0..3 {
            files.push(self.dir.path().join(format!("node{node}/patroni.log")));
            files.push(self.dir.path().join(format!("etcd{node}.log")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            all.push_str(&format!("--- {}\n{tail}\n", file.display()));
        }
        all
    }
}

impl Drop for TestTier {
    fn drop(&mut self) {
        match Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "the store tier didn't stop cleanly: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("can't run {}: {e}", script().display()),
        }
        // The TempDir field then removes the folder.
    }
}

fn tools_present() -> Result<(), String> {
    if !Path::new(PATRONI_VENV).join("bin/patroni").exists() {
        return Err(format!(
            "Patroni is missing from {PATRONI_VENV}: run `source scripts/deps.sh; roster_install_patroni` as root"
        ));
    }
    let etcd = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("etcd").exists()));
    if !etcd {
        return Err("etcd is missing: install etcd-server (scripts/deps.sh does)".into());
    }
    if !Path::new(PG_BIN).join("pg_basebackup").exists() {
        return Err(format!(
            "{PG_BIN}/pg_basebackup is missing: install postgresql-15"
        ));
    }
    Ok(())
}

/// The three ports of `KEY=a,b,c` in tier.env.
fn ports(env: &str, key: &str) -> [u16; 3] {
    let value = env
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("tier.env has no {key}: {env}"));
    let parsed: Vec<u16> = value
        .split(',')
        .map(|port| {
            port.trim()
                .parse()
                .unwrap_or_else(|_| panic!("tier.env's {key} isn't ports: {value}"))
        })
        .collect();
    parsed
        .try_into()
        .unwrap_or_else(|_| panic!("tier.env's {key} doesn't name three ports: {value}"))
}
