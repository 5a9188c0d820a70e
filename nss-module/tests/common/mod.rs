//! Shared fixtures for libnss_roster's integration tests.
//!
//! The module under test is `$ROSTER_NSS_SO` when set (scripts/test.sh
//! builds it and sets it); otherwise these helpers run `cargo build
//! --profile modules -p nss_roster --target-dir <workspace>/target/nss`
//! (a no-op when it is up to date) and load
//! `<workspace>/target/nss/modules/libnss_roster.so`. The C probe
//! (`tests/nss/nss_probe.c`) is compiled with `cc` on first use.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use roster_snapshot::{SnapshotGroup, SnapshotUser, encode, write_atomically};

pub const UID_BASE: u32 = 0x7000_0001;
pub const ADMIN_GID: u32 = 0x7000_0000;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The module's path; builds it when `ROSTER_NSS_SO` isn't set.
pub fn so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        if let Some(p) = std::env::var_os("ROSTER_NSS_SO") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "ROSTER_NSS_SO={} does not exist", p.display());
            return p;
        }
        let ws = workspace();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .current_dir(&ws)
            .args([
                "build",
                "--profile",
                "modules",
                "-p",
                "nss_roster",
                "--target-dir",
            ])
            .arg(ws.join("target/nss"))
            .status()
            .expect("running cargo to build libnss_roster.so");
        assert!(
            st.success(),
            "cargo build --profile modules -p nss_roster --target-dir target/nss failed"
        );
        let p = ws.join("target/nss/modules/libnss_roster.so");
        assert!(p.is_file(), "{} missing after the build", p.display());
        p
    })
}

/// The compiled C probe (tests/nss/nss_probe.c).
pub fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = workspace().join("target/nss/probe");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("nss_probe");
        // Compile to a private name and rename: test binaries may race.
        let tmp = dir.join(format!("nss_probe.{}", std::process::id()));
        let st = Command::new("cc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&tmp)
            .arg(workspace().join("tests/nss/nss_probe.c"))
            .args(["-ldl", "-lpthread"])
            .status()
            .expect("running cc (install gcc)");
        assert!(st.success(), "compiling tests/nss/nss_probe.c failed");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
}

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "roster-nss-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The users the probe and the tests expect: `ruser<i>`, uid = gid =
/// UID_BASE + i; every field carries the generation's parity (v0/v1) so a
/// torn answer is visible (mirrors snapshot/examples/gen.rs).
pub fn users(n: u32, generation: u64) -> Vec<SnapshotUser> {
    let v = generation % 2;
    (0..n)
        .map(|i| {
            let name = format!("ruser{i}");
            SnapshotUser {
                uid: UID_BASE + i,
                gid: UID_BASE + i,
                gecos: format!("Roster User {i} v{v}"),
                home: format!("/home/v{v}/{name}"),
                shell: if v == 0 { "/bin/bash" } else { "/bin/sh" }.into(),
                name,
            }
        })
        .collect()
}

/// Private groups for every user, plus `roster-admins` listing the first
/// `admins` users and `extra` groups `team<j>` (gid 0x6fff0000 + j) each
/// listing `ruser0`.
pub fn groups(users: &[SnapshotUser], admins: usize, extra: u32) -> Vec<SnapshotGroup> {
    let mut g: Vec<SnapshotGroup> = users
        .iter()
        .map(|u| SnapshotGroup {
            name: u.name.clone(),
            gid: u.gid,
            members: vec![],
        })
        .collect();
    g.push(SnapshotGroup {
        name: "roster-admins".into(),
        gid: ADMIN_GID,
        members: users.iter().take(admins).map(|u| u.name.clone()).collect(),
    });
    for j in 0..extra {
        g.push(SnapshotGroup {
            name: format!("team{j}"),
            gid: 0x6fff_0000 + j,
            members: vec!["ruser0".into()],
        });
    }
    g
}

pub fn write_snapshot(path: &Path, n: u32, generation: u64) {
    write_snapshot_with(path, n, generation, 2, 0);
}

pub fn write_snapshot_with(path: &Path, n: u32, generation: u64, admins: usize, extra: u32) {
    let u = users(n, generation);
    let g = groups(&u, admins, extra);
    write_atomically(path, &encode(generation, &u, &g).unwrap()).unwrap();
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether the real-glibc tests can run here: root and `unshare -m`.
/// When not, says so loudly on stderr (the test then returns early; the
/// skip is visible with `--nocapture`), or fails the test where
/// `ROSTER_TESTS_REQUIRE_ALL=1` (scripts/test.sh sets it: CI never skips).
pub fn glibc_ns_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skipped(
            test,
            "the real-glibc NSS tests need root (for unshare -m and bind mounts)",
        );
    }
    let ok = Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok || skipped(test, "`unshare -m` is not available here")
}

/// Reports a test that can't run here: false, or a failure under
/// `ROSTER_TESTS_REQUIRE_ALL=1`.
fn skipped(test: &str, why: &str) -> bool {
    if std::env::var_os("ROSTER_TESTS_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("{test} can't run here ({why}) and ROSTER_TESTS_REQUIRE_ALL=1 forbids skipping it");
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    false
}

/// A test world: a snapshot path and a scratch dir for the namespace.
pub struct World {
    pub dir: TempDir,
}

impl World {
    pub fn new(tag: &str) -> World {
        let dir = TempDir::new(tag);
        std::fs::create_dir(dir.path().join("ns")).unwrap();
        World { dir }
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("nss.cache")
    }

    /// `cmd` run through glibc's own dispatch in a private mount namespace
    /// with `passwd`/`group` set to `services`.
    pub fn glibc(&self, services: &str, cmd: &[&str]) -> Output {
        self.glibc_with(services, &[], cmd)
    }

    pub fn glibc_with(&self, services: &str, extra: &[&str], cmd: &[&str]) -> Output {
        Command::new(workspace().join("tests/nss/in-private-ns.sh"))
            .arg("--work")
            .arg(self.dir.path().join("ns"))
            .arg("--so")
            .arg(so())
            .args(["--passwd", services, "--group", services])
            .args(extra)
            .arg("--")
            .args(cmd)
            .env("ROSTER_NSS_CACHE", self.cache())
            .output()
            .unwrap()
    }

    /// `cmd` run under nss_wrapper, which loads the module itself.
    pub fn wrapped(&self, cmd: &[&str]) -> Output {
        let wrapper = [
            "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
            "/usr/lib64/libnss_wrapper.so",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libnss_wrapper.so not found: apt-get install libnss-wrapper");
        // nss_wrapper ignores the module unless both files exist.
        let passwd = self.dir.path().join("passwd");
        let group = self.dir.path().join("group");
        std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        std::fs::write(&group, "root:x:0:\n").unwrap();
        let so2 = self.dir.path().join("libnss_roster.so.2");
        if !so2.exists() {
            std::fs::copy(so(), &so2).unwrap();
        }
        Command::new(cmd[0])
            .args(&cmd[1..])
            .env("LD_PRELOAD", wrapper)
            .env("NSS_WRAPPER_PASSWD", &passwd)
            .env("NSS_WRAPPER_GROUP", &group)
            .env("NSS_WRAPPER_MODULE_SO_PATH", &so2)
            .env("NSS_WRAPPER_MODULE_FN_PREFIX", "roster")
            .env("ROSTER_NSS_CACHE", self.cache())
            .env("ROSTER_NSS_CACHE_OWNER", own_uid())
            .output()
            .unwrap()
    }

    /// The probe called directly on the module's exports (`direct` mode).
    pub fn direct(&self, args: &[&str]) -> String {
        self.direct_owned_by(&own_uid(), args)
    }

    /// As [`World::direct`], believing snapshots owned by `owner` (the
    /// module's `ROSTER_NSS_CACHE_OWNER`; an empty one leaves it root).
    pub fn direct_owned_by(&self, owner: &str, args: &[&str]) -> String {
        let mut command = Command::new(probe());
        command
            .arg("direct")
            .arg(so())
            .args(args)
            .env("ROSTER_NSS_CACHE", self.cache())
            .env_remove("ROSTER_NSS_CACHE_OWNER");
        if !owner.is_empty() {
            command.env("ROSTER_NSS_CACHE_OWNER", owner);
        }
        let o = command.output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        stdout(&o)
    }
}

/// This process's uid, as `ROSTER_NSS_CACHE_OWNER` takes it: the snapshots
/// these tests write are ours, whoever runs them (root in CI).
pub fn own_uid() -> String {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }.to_string()
}

pub fn user_line(i: u32, generation: u64) -> String {
    let v = generation % 2;
    let shell = if v == 0 { "/bin/bash" } else { "/bin/sh" };
    let uid = UID_BASE + i;
    format!("ruser{i}:*:{uid}:{uid}:Roster User {i} v{v}:/home/v{v}/ruser{i}:{shell}")
}
