//! `roster doctor [--json] [--fix]`: is this host set up for Roster, and
//! if not, what to do about it.
//!
//! Each check family is one file and answers [`Finding`]s: ✓ ok, ! warn
//! (worth knowing, nothing breaks), ✗ fail (something won't work), each
//! non-ok one with its fix as a sentence. `--fix` repairs only what can't
//! make things worse: file modes, adding `roster` to two nsswitch lines,
//! and a sudoers drop-in validated by visudo before it is moved into place.
//! The PAM stack, ids and accounts are only reported: a wrong guess there
//! locks people out.
//!
//! Unlike every other command, the doctor decides things itself: it reads
//! the host's files rather than asking rosterd, since it must work exactly
//! when rosterd doesn't. Only what rosterd alone knows (in fleet mode: its
//! link to the controllers) is asked over the bus, and judged here.

pub mod accounts;
pub mod breakglass;
pub mod config;
pub mod daemon;
pub mod files;
pub mod fleet;
pub mod freshness;
pub mod ids;
pub mod nsswitch;
pub mod pam;
pub mod sudoers;

use crate::args::DoctorArgs;
use crate::errors::CliError;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
        }
    }
}

/// Something `--fix` may do. Each is safe to repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    Chmod {
        path: PathBuf,
        mode: u32,
    },
    Nsswitch {
        path: PathBuf,
    },
    Sudoers {
        path: PathBuf,
        group: String,
    },
    /// Nothing safe to do (the reason, as a sentence).
    Refused(String),
}

impl Repair {
    /// Does it; what was done, as a sentence.
    fn apply(&self) -> Result<String, String> {
        match self {
            Repair::Chmod { path, mode } => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| format!("chmod {mode:04o} {}: {e}", path.display()))?;
                Ok(format!("chmod {mode:04o} {}", path.display()))
            }
            Repair::Nsswitch { path } => nsswitch::fix(path),
            Repair::Sudoers { path, group } => sudoers::write(path, group),
            Repair::Refused(why) => Err(why.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do, for a warning or a failure; `null` when ok.
    pub fix: Option<String>,
    /// What `--fix` did for this check (empty without `--fix`).
    pub fixed: Vec<String>,
    #[serde(skip)]
    pub repairs: Vec<Repair>,
}

impl Finding {
    pub fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Ok,
            message: message.into(),
            fix: None,
            fixed: Vec::new(),
            repairs: Vec::new(),
        }
    }

    pub fn warn(
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            status: Status::Warn,
            fix: Some(fix.into()),
            ..Finding::ok(check, message)
        }
    }

    pub fn fail(
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Finding::ok(check, message)
        }
    }

    pub fn repair(mut self, repair: Repair) -> Finding {
        self.repairs.push(repair);
        self
    }
}

/// The host being checked: its root folder, config and Roster's accounts.
pub struct Host {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub config: config::Config,
    /// Why the config at `config_path` can't be used (then `config` is
    /// the defaults); `None` when it was read and rosterd would take it.
    pub config_problem: Option<String>,
    /// rosterd's `Fleet.Status`, or why it didn't answer.
    pub fleet: Result<roster_client::FleetStatus, String>,
}

impl Host {
    /// `path` (absolute, as the host names it) under the root.
    pub fn path(&self, path: &Path) -> PathBuf {
        under(&self.root, path)
    }

    /// Roster's own users and groups, from the snapshot.
    pub fn roster_accounts(&self) -> accounts::RosterAccounts {
        accounts::RosterAccounts::load(&self.path(&self.config.nss_cache))
    }
}

fn under(root: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix("/") {
        Ok(relative) => root.join(relative),
        // A relative path in the config is rosterd's working folder's
        // business; read it under the root all the same.
        Err(_) => root.join(path),
    }
}

/// A family of checks on the host's files.
type Family = fn(&Host) -> Vec<Finding>;

const FAMILIES: [Family; 8] = [
    files::check,
    fleet::check,
    freshness::check,
    nsswitch::check,
    pam::check,
    ids::check,
    sudoers::check,
    breakglass::check,
];

/// Runs every check (repairing with `--fix`) and prints the report; an
/// error (exit 1) when a check failed.
pub async fn run(args: DoctorArgs, bus_address: &str) -> Result<(), CliError> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| under(&args.root, Path::new(config::DEFAULT_PATH)));
    let (config, config_finding) = config::load(&config_path);
    let daemon_finding = daemon::check(bus_address).await;
    // A rosterd that didn't answer once is not asked again (a hung one
    // would cost the timeout twice).
    let fleet = if daemon_finding.status == Status::Ok {
        fleet::ask(bus_address).await
    } else {
        Err("rosterd didn't answer (the rosterd check says why)".to_owned())
    };
    let host = Host {
        root: args.root.clone(),
        config_path,
        config,
        config_problem: (config_finding.status != Status::Ok)
            .then(|| config_finding.message.clone()),
        fleet,
    };
    let mut findings = vec![config_finding, daemon_finding];
    findings.extend(check_files(&host, args.fix));

    if args.json {
        super::commands::print_json(&findings)?;
    } else {
        print!("{}", render(&findings));
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 {
        return Err(CliError::Local(format!(
            "{failed} {} failed",
            if failed == 1 { "check" } else { "checks" }
        )));
    }
    Ok(())
}

/// Every file check; with `fix`, the families with something to repair
/// are repaired and checked again, and each finding carries what was done.
pub fn check_files(host: &Host, fix: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for family in FAMILIES {
        let findings = family(host);
        let repairs: Vec<(&'static str, Repair)> = findings
            .iter()
            .filter(|f| f.status != Status::Ok)
            .flat_map(|f| f.repairs.iter().map(|r| (f.check, r.clone())))
            .collect();
        if !fix || repairs.is_empty() {
            out.extend(findings);
            continue;
        }
        let done: Vec<(&'static str, String)> = repairs
            .iter()
            .map(|(check, repair)| {
                let said = match repair.apply() {
                    Ok(done) => done,
                    Err(e) => format!("couldn't repair: {e}"),
                };
                (*check, said)
            })
            .collect();
        for mut finding in family(host) {
            finding.fixed = done
                .iter()
                .filter(|(check, _)| *check == finding.check)
                .map(|(_, said)| said.clone())
                .collect();
            out.push(finding);
        }
    }
    out
}

/// The report for a person: one line per check, the fix under it.
pub fn render(findings: &[Finding]) -> String {
    let width = findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{} {:width$}  {}\n",
            f.status.mark(),
            f.check,
            f.message
        ));
        for done in &f.fixed {
            out.push_str(&format!("  {:width$}  fixed: {done}\n", ""));
        }
        if let Some(fix) = f.fix.as_deref().filter(|_| f.status != Status::Ok) {
            out.push_str(&format!("  {:width$}  fix: {fix}\n", ""));
        }
    }
    let count = |s| findings.iter().filter(|f| f.status == s).count();
    let (failed, warned) = (count(Status::Fail), count(Status::Warn));
    out.push_str(&match (failed, warned) {
        (0, 0) => format!("all {} checks passed\n", findings.len()),
        _ => format!(
            "{failed} failed, {warned} {}, {} passed\n",
            if warned == 1 { "warning" } else { "warnings" },
            count(Status::Ok)
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_marks_each_check_and_says_the_fix() {
        let mut fixed = Finding::ok("database", "/db is 0600");
        fixed.fixed.push("chmod 0600 /db".into());
        let text = render(&[
            Finding::ok("config", "read"),
            Finding::fail("rosterd", "not running", "systemctl start rosterd"),
            Finding::warn("lastlog", "stacked", "exclude it from backups"),
            fixed,
        ]);
        assert!(text.contains("✓ config    read\n"), "{text}");
        assert!(text.contains("✗ rosterd   not running\n"), "{text}");
        assert!(
            text.contains("           fix: systemctl start rosterd\n"),
            "{text}"
        );
        assert!(text.contains("! lastlog   stacked\n"), "{text}");
        assert!(text.contains("fixed: chmod 0600 /db\n"), "{text}");
        assert!(text.ends_with("1 failed, 1 warning, 2 passed\n"), "{text}");
        assert!(render(&[Finding::ok("a", "b")]).ends_with("all 1 checks passed\n"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let f =
            Finding::fail("sudoers", "missing", "roster doctor --fix").repair(Repair::Sudoers {
                path: "/x".into(),
                group: "g".into(),
            });
        let v = serde_json::to_value([f]).unwrap();
        assert_eq!(v[0]["check"], "sudoers");
        assert_eq!(v[0]["status"], "fail");
        assert_eq!(v[0]["message"], "missing");
        assert_eq!(v[0]["fix"], "roster doctor --fix");
        assert_eq!(v[0]["fixed"], serde_json::json!([]));
        assert!(v[0].get("repairs").is_none());
        let ok = serde_json::to_value(Finding::ok("a", "b")).unwrap();
        assert!(ok["fix"].is_null());
        assert_eq!(ok["status"], "ok");
    }

    #[test]
    fn host_paths_go_under_the_root() {
        assert_eq!(
            under(Path::new("/tmp/r"), Path::new("/etc/group")),
            PathBuf::from("/tmp/r/etc/group")
        );
        assert_eq!(
            under(Path::new("/"), Path::new("/etc/group")),
            PathBuf::from("/etc/group")
        );
    }
}
