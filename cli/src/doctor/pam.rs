//! The PAM stack: pam_roster where libpam-roster's pam-auth-update profile
//! puts it (issue 8 §3), the module itself installed, and a warning where
//! pam_lastlog is stacked.
//!
//! pam-auth-update rewrites the profile's `success=end` into jump counts,
//! so the lines are judged by what matters rather than compared as text:
//! auth after pam_unix and ignoring users it doesn't know; the account line
//! failing closed (`default=bad`) yet ignoring local users
//! (`user_unknown=ignore`); no `use_authtok` on the password line; a
//! session line.

use super::{Finding, Host};
use std::path::{Path, PathBuf};

/// One rule of a PAM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `auth`, `account`, `password`, `session` (a leading `-` dropped).
    pub kind: String,
    pub control: String,
    pub module: String,
    pub args: Vec<String>,
}

impl Rule {
    /// The module's file name (`pam_unix.so` from `/lib/…/pam_unix.so`).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }
}

/// The rules of a PAM file (`@include` lines and comments skipped).
pub fn parse(text: &str) -> Vec<Rule> {
    let mut out = Vec::new();
    // Backslash-newline continues a rule.
    let joined = text.replace("\\\n", " ");
    for line in joined.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('@') {
            continue;
        }
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim_start();
        let (control, rest) = if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => (&rest[..=end], &rest[end + 1..]),
                None => (rest, ""),
            }
        } else {
            rest.split_once(char::is_whitespace).unwrap_or((rest, ""))
        };
        let mut words = rest.split_whitespace();
        let Some(module) = words.next() else {
            continue;
        };
        out.push(Rule {
            kind: kind.trim_start_matches('-').to_owned(),
            control: control.to_owned(),
            module: module.to_owned(),
            args: words.map(str::to_owned).collect(),
        });
    }
    out
}

/// The value of `key=` inside a bracketed control (`default=bad`).
fn action<'a>(control: &'a str, key: &str) -> Option<&'a str> {
    control
        .trim_matches(|c| c == '[' || c == ']')
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// What is wrong with the `kind` rules of one stack file; `Ok` says what
/// is right.
pub fn judge(kind: &str, rules: &[Rule]) -> Result<String, String> {
    let rules: Vec<&Rule> = rules.iter().filter(|r| r.kind == kind).collect();
    let position = |name: &str| rules.iter().position(|r| r.module_name() == name);
    let Some(at) = position("pam_roster.so") else {
        return Err(format!("no {kind} line for pam_roster.so"));
    };
    let rule = rules[at];
    match kind {
        "auth" => {
            if let Some(unix) = position("pam_unix.so")
                && unix > at
            {
                return Err(
                    "pam_roster.so comes before pam_unix.so: root and local users would wait on rosterd"
                        .to_owned(),
                );
            }
            let ignores_strangers =
                action(&rule.control, "default") == Some("ignore") || rule.control == "sufficient";
            if !ignores_strangers {
                return Err(format!(
                    "control {} doesn't ignore users Roster doesn't know (default=ignore)",
                    rule.control
                ));
            }
        }
        "account" => {
            if action(&rule.control, "user_unknown") != Some("ignore") {
                return Err(format!(
                    "control {} refuses every local user (needs user_unknown=ignore)",
                    rule.control
                ));
            }
            if !matches!(action(&rule.control, "default"), Some("bad" | "die")) {
                return Err(format!(
                    "control {} lets a suspended user in, and everyone while rosterd is down (needs default=bad)",
                    rule.control
                ));
            }
        }
        "password" if rule.args.iter().any(|a| a == "use_authtok") => {
            return Err(
                "use_authtok on pam_roster.so: pam_unix asks no new password for Roster users, so there is none to use"
                    .to_owned(),
            );
        }
        _ => {}
    }
    Ok(format!("{kind} {} pam_roster.so", rule.control))
}

/// The profile's lines, for the fix sentence.
fn expected(kind: &str) -> &'static str {
    match kind {
        "auth" => {
            "auth [success=end new_authtok_reqd=done default=ignore] pam_roster.so use_first_pass (after pam_unix)"
        }
        "account" => {
            "account [default=bad success=ok new_authtok_reqd=done user_unknown=ignore] pam_roster.so"
        }
        "password" => "password [success=end default=ignore] pam_roster.so try_first_pass",
        _ => "session optional pam_roster.so",
    }
}

/// The files a service's `kind` rules come from: Debian's common-KIND;
/// else (authselect on RPM systems) system-auth and password-auth.
fn stack_files(host: &Host, kind: &str) -> Vec<PathBuf> {
    let pam_d = host.path(Path::new("/etc/pam.d"));
    let common = pam_d.join(format!("common-{kind}"));
    if common.exists() || !pam_d.join("system-auth").exists() {
        return vec![common];
    }
    ["system-auth", "password-auth"]
        .iter()
        .map(|f| pam_d.join(f))
        .filter(|p| p.exists())
        .collect()
}

pub fn check(host: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut stacked = false;
    for (kind, check) in [
        ("auth", "pam-auth"),
        ("account", "pam-account"),
        ("password", "pam-password"),
        ("session", "pam-session"),
    ] {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for path in stack_files(host, kind) {
            match super::accounts::read(&path) {
                Ok(Some(text)) => {
                    let rules = parse(&text);
                    stacked |= rules.iter().any(|r| r.module_name() == "pam_roster.so");
                    match judge(kind, &rules) {
                        Ok(what) => ok.push(format!("{}: {what}", path.display())),
                        Err(why) => bad.push(format!("{}: {why}", path.display())),
                    }
                }
                Ok(None) => bad.push(format!("{} is missing", path.display())),
                Err(e) => bad.push(e),
            }
        }
        out.push(if bad.is_empty() {
            Finding::ok(check, ok.join("; "))
        } else {
            Finding::fail(
                check,
                bad.join("; "),
                format!(
                    "install libpam-roster and run pam-auth-update --package (its profile is /usr/share/pam-configs/roster); by hand: `{}`",
                    expected(kind)
                ),
            )
        });
    }
    if stacked {
        out.push(module(host));
    }
    out.push(lastlog(host));
    out
}

/// The stack names pam_roster.so: is it installed? A `default=bad` account
/// line naming a missing module refuses every login, root's included.
fn module(host: &Host) -> Finding {
    let mut dirs = Vec::new();
    for lib in ["/usr/lib", "/lib", "/usr/lib64", "/lib64"] {
        let lib = host.path(Path::new(lib));
        dirs.push(lib.join("security"));
        if let Ok(entries) = std::fs::read_dir(&lib) {
            // Multiarch folders: /usr/lib/x86_64-linux-gnu/security.
            dirs.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path().join("security")),
            );
        }
    }
    match dirs
        .iter()
        .map(|d| d.join("pam_roster.so"))
        .find(|p| p.is_file())
    {
        Some(found) => Finding::ok("pam-module", format!("{} is installed", found.display())),
        None => Finding::fail(
            "pam-module",
            "the PAM stack names pam_roster.so but it is not installed: the account line refuses every login",
            "install libpam-roster, or take Roster out of the stack: pam-auth-update --package --remove roster",
        ),
    }
}

/// pam_lastlog writes `/var/log/lastlog` at offset uid × 292 bytes:
/// Roster's uids (from 0x70000000) make that sparse file look ~550 GB.
fn lastlog(host: &Host) -> Finding {
    let pam_d = host.path(Path::new("/etc/pam.d"));
    let mut services: Vec<String> = std::fs::read_dir(&pam_d)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    super::accounts::read(&e.path())
                        .ok()
                        .flatten()
                        .is_some_and(|text| {
                            parse(&text)
                                .iter()
                                .any(|r| r.module_name() == "pam_lastlog.so")
                        })
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    services.sort();
    if services.is_empty() {
        return Finding::ok("lastlog", "pam_lastlog is not stacked");
    }
    Finding::warn(
        "lastlog",
        format!(
            "pam_lastlog is stacked in {} ({}): with Roster's high uids the sparse /var/log/lastlog looks ~550 GB (it uses little disk)",
            pam_d.display(),
            services.join(", ")
        ),
        "exclude /var/log/lastlog from backups and copies (or copy with --sparse), or drop pam_lastlog from those files",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // What pam-auth-update writes on Debian 12 with Roster's profile.
    const AUTH: &str = "\
auth\t[success=2 default=ignore]\tpam_unix.so nullok
auth\t[success=1 new_authtok_reqd=done default=ignore]\tpam_roster.so use_first_pass
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
";
    const ACCOUNT: &str = "\
account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so
account\trequisite\t\t\tpam_deny.so
account\trequired\t\t\tpam_permit.so
account\t[default=bad success=ok new_authtok_reqd=done user_unknown=ignore]\tpam_roster.so
";

    #[test]
    fn rules_parse_with_bracketed_controls() {
        let rules = parse(
            "# c\n@include common-x\n-session optional /lib/security/pam_roster.so a b\nauth [a=b c=d] pam_x.so\n",
        );
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].kind, "session");
        assert_eq!(rules[0].module_name(), "pam_roster.so");
        assert_eq!(rules[0].args, ["a", "b"]);
        assert_eq!(rules[1].control, "[a=b c=d]");
        assert_eq!(action("[a=b c=d]", "c"), Some("d"));
    }

    #[test]
    fn the_profiles_stack_passes() {
        assert!(judge("auth", &parse(AUTH)).is_ok());
        assert!(judge("account", &parse(ACCOUNT)).is_ok());
        assert!(
            judge(
                "password",
                &parse("password [success=1 default=ignore] pam_roster.so try_first_pass\n")
            )
            .is_ok()
        );
        assert!(judge("session", &parse("session optional pam_roster.so\n")).is_ok());
    }

    #[test]
    fn wrong_stacks_say_why() {
        assert!(
            judge("auth", &parse("auth required pam_unix.so\n"))
                .unwrap_err()
                .contains("no auth line")
        );
        let before = "auth [success=end default=ignore] pam_roster.so\nauth required pam_unix.so\n";
        assert!(
            judge("auth", &parse(before))
                .unwrap_err()
                .contains("before pam_unix")
        );
        assert!(
            judge(
                "auth",
                &parse("auth required pam_unix.so\nauth required pam_roster.so\n")
            )
            .unwrap_err()
            .contains("default=ignore")
        );
        assert!(
            judge("account", &parse("account [default=bad] pam_roster.so\n"))
                .unwrap_err()
                .contains("user_unknown=ignore")
        );
        assert!(
            judge("account", &parse("account optional pam_roster.so\n"))
                .unwrap_err()
                .contains("user_unknown")
        );
        assert!(
            judge(
                "account",
                &parse("account [default=ignore user_unknown=ignore] pam_roster.so\n")
            )
            .unwrap_err()
            .contains("default=bad")
        );
        assert!(
            judge(
                "password",
                &parse("password [success=end default=ignore] pam_roster.so use_authtok\n")
            )
            .unwrap_err()
            .contains("use_authtok")
        );
    }
}
