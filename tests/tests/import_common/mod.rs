//! A fake host root for `roster users import`: passwd, shadow, group,
//! gshadow and login.defs holding every crypt kind Roster adopts (made by
//! the real `mkpasswd` and `openssl passwd`), homes with files owned by
//! the old uids. rosterd's own `passwd_file`/`group_file` are this root's
//! files, as on a host, so core's local-files rule sees the import's edits.

#![allow(dead_code)]

use roster_tests::TestConfig;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const LOGIN_DEFS: &str = "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n";

/// A crypt hash of `password` made by a real tool: `mkpasswd -m METHOD`
/// (whois) or `openssl passwd -N`.
pub fn crypt(tool: &[&str], password: &str) -> String {
    let out = Command::new(tool[0])
        .args(&tool[1..])
        .arg(password)
        .output()
        .unwrap_or_else(|e| panic!("can't run {tool:?} (apt-get install whois openssl): {e}"));
    assert!(
        out.status.success(),
        "{tool:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One account of the fake host.
pub struct LocalUser {
    pub name: &'static str,
    pub uid: u32,
    pub password: &'static str,
    /// The shadow field.
    pub shadow: String,
}

pub struct FakeHost {
    pub dir: tempfile::TempDir,
    pub users: Vec<LocalUser>,
}

impl FakeHost {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn etc(&self, file: &str) -> PathBuf {
        self.root().join("etc").join(file)
    }

    pub fn home(&self, name: &str) -> PathBuf {
        self.root().join("home").join(name)
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.etc(file)).unwrap_or_default()
    }

    /// `--root` plus the level flags most tests use.
    pub fn import_args(&self) -> Vec<String> {
        vec![
            "users".into(),
            "import".into(),
            "--root".into(),
            self.root().display().to_string(),
        ]
    }

    /// rosterd's config: its local files are this host's.
    pub fn config(&self) -> TestConfig {
        TestConfig::new()
            .set_str("passwd_file", &self.etc("passwd").display().to_string())
            .set_str("group_file", &self.etc("group").display().to_string())
            .set_str("login_defs", &self.etc("login.defs").display().to_string())
    }

    /// Every path under the root with its owner, mode and contents: what a
    /// dry run must leave exactly as it was.
    pub fn tree(&self) -> Vec<(PathBuf, u32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root().to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let contents = if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    stack.push(entry.unwrap().path());
                }
            }
            out.push((path, meta.uid(), meta.gid(), meta.mode(), contents));
        }
        out.sort();
        out
    }

    pub fn owner(&self, path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().uid()
    }
}

/// A home for `uid` with a few files, one in a subfolder, and an
/// `authorized_keys`.
fn make_home(home: &Path, uid: u32) {
    std::fs::create_dir_all(home.join("docs/deep")).unwrap();
    std::fs::write(home.join(".profile"), "# profile\n").unwrap();
    std::fs::write(home.join("docs/deep/notes.txt"), "notes\n").unwrap();
    for path in [
        home.to_path_buf(),
        home.join(".profile"),
        home.join("docs"),
        home.join("docs/deep"),
        home.join("docs/deep/notes.txt"),
    ] {
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
    }
}

/// The standard fake host: every adopted hash kind, a locked entry, a
/// `*` and an empty one, a sudo member (`harry`, who is also the only
/// local sudoer with a password), `admin` (a name Roster refuses, also in
/// sudo), system accounts, and a file of `alice`'s outside her home.
pub fn standard_host() -> FakeHost {
    let dir = tempfile::Builder::new()
        .prefix("roster-import-")
        .tempdir()
        .unwrap();
    let pw = |n: &str| -> &'static str { Box::leak(format!("old-password-{n}").into_boxed_str()) };
    let users = vec![
        LocalUser {
            name: "alice",
            uid: 1001,
            password: pw("alice"),
            shadow: crypt(&["mkpasswd", "-m", "yescrypt"], pw("alice")),
        },
        LocalUser {
            name: "bob",
            uid: 1002,
            password: pw("bob"),
            shadow: crypt(&["mkpasswd", "-m", "sha-512"], pw("bob")),
        },
        LocalUser {
            name: "carol",
            uid: 1003,
            password: pw("carol"),
            shadow: crypt(&["openssl", "passwd", "-5"], pw("carol")),
        },
        LocalUser {
            name: "dave",
            uid: 1004,
            password: pw("dave"),
            shadow: crypt(&["mkpasswd", "-m", "bcrypt"], pw("dave")),
        },
        LocalUser {
            name: "erin",
            uid: 1005,
            password: pw("erin"),
            shadow: crypt(&["openssl", "passwd", "-1"], pw("erin")),
        },
        LocalUser {
            name: "frank",
            uid: 1006,
            password: pw("frank"),
            shadow: format!("!{}", crypt(&["openssl", "passwd", "-6"], pw("frank"))),
        },
        LocalUser {
            name: "gina",
            uid: 1007,
            password: "",
            shadow: "*".into(),
        },
        LocalUser {
            name: "hank",
            uid: 1008,
            password: "",
            shadow: String::new(),
        },
        LocalUser {
            name: "harry",
            uid: 1009,
            password: pw("harry"),
            shadow: crypt(&["mkpasswd", "-m", "sha-512"], pw("harry")),
        },
        LocalUser {
            name: "admin",
            uid: 1010,
            password: pw("admin"),
            shadow: crypt(&["mkpasswd", "-m", "sha-512"], pw("admin")),
        },
    ];
    let host = FakeHost { dir, users };
    std::fs::create_dir_all(host.root().join("etc")).unwrap();
    let mut passwd = String::from(
        "root:x:0:0:root:/root:/bin/bash\n\
         daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    );
    let mut shadow = String::from(
        "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
    );
    let mut group = String::from(
        "root:x:0:\ndaemon:x:1:\nsudo:x:27:harry,admin\nusers:x:100:alice,bob\nnogroup:x:65534:\n",
    );
    let mut gshadow = String::from(
        "root:*::\ndaemon:*::\nsudo:*::harry,admin\nusers:*::alice,bob\nnogroup:*::\n",
    );
    for u in &host.users {
        let home = host.home(u.name);
        passwd.push_str(&format!(
            "{}:x:{}:{}:{} Local,,,:{}:/bin/bash\n",
            u.name,
            u.uid,
            u.uid,
            u.name.to_uppercase(),
            home.display()
        ));
        shadow.push_str(&format!("{}:{}:19000:0:99999:7:::\n", u.name, u.shadow));
        group.push_str(&format!("{}:x:{}:\n", u.name, u.uid));
        gshadow.push_str(&format!("{}:!::\n", u.name));
        make_home(&home, u.uid);
    }
    // A service account with a shell: not human (uid below UID_MIN).
    passwd.push_str("svc:x:999:999:svc:/var/lib/svc:/bin/sh\n");
    shadow.push_str("svc:!:19000::::::\n");
    group.push_str("svc:x:999:\n");
    std::fs::write(host.etc("passwd"), passwd).unwrap();
    std::fs::write(host.etc("shadow"), shadow).unwrap();
    std::fs::write(host.etc("group"), group).unwrap();
    std::fs::write(host.etc("gshadow"), gshadow).unwrap();
    std::fs::write(host.etc("login.defs"), LOGIN_DEFS).unwrap();
    // alice left a file in /tmp: counted and listed, not chowned.
    std::fs::create_dir_all(host.root().join("tmp")).unwrap();
    let stray = host.root().join("tmp/alice-was-here");
    std::fs::write(&stray, "x").unwrap();
    std::os::unix::fs::lchown(&stray, Some(1001), Some(1001)).unwrap();
    host
}

/// A fresh ed25519 public key line from the real `ssh-keygen`, with
/// `comment`, made in `dir`.
pub fn ssh_public_key(dir: &Path, comment: &str) -> String {
    let path = dir.join(format!("key-{comment}"));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("can't run ssh-keygen (apt-get install openssh-client): {e}"));
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = std::fs::read_to_string(path.with_extension("pub"))
        .unwrap_or_else(|e| panic!("ssh-keygen's .pub: {e}"));
    line.trim().to_owned()
}

/// Writes `~/.ssh/authorized_keys` into `name`'s home on the fake host,
/// owned by its old uid as sshd wants it.
pub fn write_authorized_keys(host: &FakeHost, name: &str, text: &str) {
    let uid = host
        .users
        .iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("no local user {name}"))
        .uid;
    let ssh = host.home(name).join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("authorized_keys"), text).unwrap();
    for path in [ssh.clone(), ssh.join("authorized_keys")] {
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
    }
}

/// The comments of `name`'s keys in Roster (`roster users keys list`).
pub fn key_comments(daemon: &roster_tests::TestDaemon, name: &str) -> Vec<String> {
    let out = daemon
        .roster(&["users", "keys", "list", name, "--json"])
        .run()
        .expect_ok();
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let mut comments: Vec<String> = list
        .iter()
        .map(|k| k["comment"].as_str().unwrap_or_default().to_owned())
        .collect();
    comments.sort();
    comments
}
