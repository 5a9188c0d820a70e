//! Fleet mode (DESIGN.md "Fleet mode"): is this host's link to its
//! controllers sound? A standalone host (no enrollment beside the
//! database, and rosterd doesn't say otherwise) gets one line and nothing
//! else. An enrolled one gets the enrollment's files (the host's key is a
//! credential: 0600 in a 0700 folder, root's), what rosterd says over the
//! bus (certificate expiry, the last answer and the offline grace left,
//! the clock offset, revocation, the sync's last failure, reports waiting)
//! and the systemd drop-in that gives rosterd its network.
//!
//! The files are read here, as every other check reads them, so they are
//! checked when rosterd doesn't answer; the rest only rosterd knows (its
//! clocks, its store), so those lines come from `Fleet.Status`, decided by
//! [`judge`] from that answer and "now".

use super::{Finding, Host};
use crate::connection::Client;
use crate::output::time;
use roster_client::FleetStatus;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHECK: &str = "fleet";

/// The drop-in `roster hosts join` links in, and what it links.
pub const DROP_IN: &str = "/etc/systemd/system/rosterd.service.d/fleet.conf";
pub const SHIPPED_DROP_IN: &str = "/usr/share/roster/systemd/rosterd-fleet.conf";

/// A certificate this close to its end should have been renewed (hosts
/// renew at two thirds of 30 days, i.e. with 10 days left).
const CERTIFICATE_WARN: i64 = 7 * 86_400;
/// DESIGN.md: a host more than 60 s off the controller's clock says so.
const CLOCK_WARN: i64 = 60;
/// Reports pile up only while no controller takes them.
const REPORTS_WARN: u64 = 1000;

/// A hung rosterd must not hang the doctor with it.
const TIMEOUT: Duration = Duration::from_secs(5);

/// rosterd's `Fleet.Status`, or why there is none (as a clause).
pub async fn ask(address: &str) -> Result<FleetStatus, String> {
    let client = Client::connect(address, Some(TIMEOUT))
        .await
        .map_err(|_| format!("no D-Bus system bus answers at {address}"))?;
    let answer = match client.fleet().await {
        Ok(fleet) => fleet.status().await.map_err(|e| client.error(e)),
        Err(e) => Err(e),
    };
    answer.map_err(|e| {
        format!(
            "rosterd did not answer Fleet.Status: {}",
            e.render(Default::default()).trim_start_matches("roster: ")
        )
    })
}

/// The `fleet` folder beside the database, as rosterd keeps it.
pub fn folder(database: &Path) -> PathBuf {
    database
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("fleet")
}

pub fn check(host: &Host) -> Vec<Finding> {
    let folder = folder(&host.path(&host.config.database));
    let enrollment = folder.join("enrollment.json");
    let on_disk = enrollment.symlink_metadata().is_ok();
    let answered = host.fleet.as_ref().ok();
    let reported = answered.filter(|s| s.enrolled);
    if !on_disk && reported.is_none() {
        return vec![Finding::ok(
            CHECK,
            format!(
                "standalone: this host is not enrolled with a controller (no {})",
                enrollment.display()
            ),
        )];
    }

    let mut out = Vec::new();
    match (reported, answered) {
        (Some(status), _) if !on_disk => {
            out.push(Finding::warn(
                CHECK,
                format!(
                    "rosterd says this host is enrolled as {:?}, but {} is missing: \
                     rosterd keeps its database elsewhere than {} says",
                    status.hostname,
                    enrollment.display(),
                    host.config_path.display()
                ),
                "run roster doctor with rosterd's own config (--config PATH)",
            ));
        }
        (Some(status), _) => out.push(enrolled(status)),
        (None, Some(_)) => out.push(Finding::warn(
            CHECK,
            format!(
                "{} exists, but rosterd answers as a standalone host: it reads another \
                 database than {} says, or it was not restarted since the join",
                enrollment.display(),
                host.config_path.display()
            ),
            "systemctl restart rosterd (or run roster doctor with rosterd's own config, --config PATH)",
        )),
        (None, None) => out.push(from_file(&enrollment)),
    }
    if on_disk {
        out.extend(files(&folder));
    }
    match (&host.fleet, reported) {
        (_, Some(status)) => out.extend(judge(status, time::now())),
        (Err(why), None) => out.push(Finding::warn(
            "fleet-status",
            format!(
                "not checked: {why} (the certificate's expiry, the last answer, the offline \
                 grace and the clock offset come from rosterd)"
            ),
            "start rosterd (systemctl start rosterd), then run roster doctor again",
        )),
        (Ok(_), None) => {}
    }
    out.push(drop_in(host));
    out
}

/// The enrollment line from rosterd's answer: where this host belongs,
/// or that it was revoked and how to come back.
pub fn enrolled(status: &FleetStatus) -> Finding {
    if status.revoked {
        return Finding::fail(
            CHECK,
            format!(
                "the controller revoked this host ({:?} in environment {:?}): its cached \
                 password hashes and keys are wiped and Roster users can't log in here",
                status.hostname, status.environment
            ),
            "to come back, a fleet admin makes a new join token (roster-controller token create \
             --environment ENV); then roster hosts leave and roster hosts join URL \
             --ca-fingerprint SHA256:… again",
        );
    }
    Finding::ok(
        CHECK,
        format!(
            "enrolled as {:?} in environment {:?} with {}",
            status.hostname,
            status.environment,
            status.controllers.join(", ")
        ),
    )
}

/// The enrollment line when rosterd doesn't answer: the file alone.
fn from_file(enrollment: &Path) -> Finding {
    let shown = enrollment.display();
    let text = match std::fs::read_to_string(enrollment) {
        Ok(text) => text,
        Err(e) => {
            return Finding::warn(
                CHECK,
                format!("enrolled, but {shown} can't be read: {e}"),
                "run with sudo",
            );
        }
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Finding::fail(
            CHECK,
            format!("{shown} is not an enrollment (not JSON): rosterd won't start with it"),
            "roster hosts leave, then roster hosts join again",
        );
    };
    let field = |key: &str| value[key].as_str().unwrap_or("?").to_owned();
    let controllers: Vec<&str> = value["controllers"]
        .as_array()
        .map(|list| list.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    Finding::ok(
        CHECK,
        format!(
            "enrolled as {:?} in environment {:?} with {} ({shown})",
            field("hostname"),
            field("environment"),
            controllers.join(", ")
        ),
    )
}

/// The enrollment's files: the host's key is a credential (whoever reads
/// it can act as this host), the enrollment holds the certificate.
fn files(folder: &Path) -> Vec<Finding> {
    let again = "roster hosts leave, then roster hosts join again (a new join makes a new key)";
    vec![
        super::files::mode(
            "fleet-folder",
            folder,
            0o700,
            "it holds the host's key",
            again,
        ),
        super::files::mode(
            "fleet-enrollment",
            &folder.join("enrollment.json"),
            0o600,
            "only rosterd reads it",
            again,
        ),
        super::files::mode(
            "fleet-key",
            &folder.join("host.key"),
            0o600,
            "it is the host's private key: whoever reads it can act as this host",
            again,
        ),
    ]
}

/// What rosterd's fleet status means at `now`: one finding each for the
/// certificate, the last answer and grace, the clock, the sync's last
/// failure and the reports waiting.
pub fn judge(status: &FleetStatus, now: i64) -> Vec<Finding> {
    vec![
        certificate(status, now),
        answer(status, now),
        clock(status),
        sync(status, now),
        reports(status),
    ]
}

fn certificate(status: &FleetStatus, now: i64) -> Finding {
    const CHECK: &str = "fleet-certificate";
    let end = status.certificate_not_after;
    if end == 0 {
        return Finding::warn(
            CHECK,
            "rosterd can't read the host certificate's expiry",
            "roster hosts leave, then roster hosts join again",
        );
    }
    let when = time::until(end, now);
    if end <= now {
        return Finding::fail(
            CHECK,
            format!(
                "the host's certificate {when} ({}): the controllers refuse this host, so \
                 nothing syncs and the offline grace runs out",
                time::timestamp(end)
            ),
            "an expired certificate can't be renewed: roster hosts leave, then roster hosts \
             join again with a new token",
        );
    }
    if end - now < CERTIFICATE_WARN {
        return Finding::warn(
            CHECK,
            format!(
                "the host's certificate expires {when} ({}): rosterd renews it at two thirds \
                 of its life, so renewal is failing",
                time::timestamp(end)
            ),
            "make a controller reachable (fleet-sync says what fails); rosterd renews on its \
             own at its next answer",
        );
    }
    Finding::ok(CHECK, format!("the host's certificate expires {when}"))
}

fn answer(status: &FleetStatus, now: i64) -> Finding {
    const CHECK: &str = "fleet-answer";
    let grace = status.offline_grace_secs;
    let shown_grace = roster_hostconfig::duration::format(Duration::from_secs(grace));
    let reach = "make a controller reachable (fleet-sync says what fails, roster hosts status \
                 shows the link); logins resume at its next answer";
    if status.last_answer == 0 {
        return Finding::fail(
            CHECK,
            "no controller has answered this host yet: Roster users can't log in until one does",
            reach,
        );
    }
    let last = time::ago(status.last_answer, now);
    if !status.within_grace {
        let message = if grace == 0 {
            format!(
                "no answer from a controller since {} ({last}) and this environment allows no \
                 offline logins (offline_grace 0): Roster users can't log in here (NSS still \
                 resolves their names)",
                time::timestamp(status.last_answer)
            )
        } else {
            format!(
                "no answer from a controller since {} ({last}): the offline grace ({shown_grace}) \
                 ended {}, {}, so Roster users can't log in here (NSS still resolves their names)",
                time::timestamp(status.last_answer),
                time::timestamp(status.grace_ends),
                time::ago(status.grace_ends, now)
            )
        };
        return Finding::fail(CHECK, message, reach);
    }
    if grace == 0 {
        return Finding::ok(
            CHECK,
            format!(
                "last answer {last}; this environment allows no offline logins (offline_grace 0)"
            ),
        );
    }
    let left = grace.saturating_sub(status.offline_for_secs);
    let shown_left = time::until(
        now.saturating_add(i64::try_from(left).unwrap_or(i64::MAX)),
        now,
    );
    if left < grace / 4 {
        return Finding::warn(
            CHECK,
            format!(
                "no answer from a controller since {} ({last}): logins from the cache end \
                 {shown_left} (less than a quarter of the {shown_grace} offline grace left)",
                time::timestamp(status.last_answer)
            ),
            reach,
        );
    }
    Finding::ok(
        CHECK,
        format!(
            "last answer {last}; without another, offline logins would end {shown_left} \
             (offline grace {shown_grace})"
        ),
    )
}

fn clock(status: &FleetStatus) -> Finding {
    const CHECK: &str = "fleet-clock";
    let offset = status.clock_offset;
    if offset.abs() > CLOCK_WARN {
        let (by, side) = if offset > 0 {
            (offset, "behind")
        } else {
            (offset.saturating_neg(), "ahead of")
        };
        return Finding::warn(
            CHECK,
            format!(
                "this host's clock is {by} s {side} the controller's (more than {CLOCK_WARN} s): \
                 certificate and grace times read wrong here"
            ),
            "set the clock from NTP (timedatectl set-ntp true, or chrony/ntpsec)",
        );
    }
    Finding::ok(
        CHECK,
        format!("this host's clock is within {CLOCK_WARN} s of the controller's ({offset} s)"),
    )
}

fn sync(status: &FleetStatus, now: i64) -> Finding {
    const CHECK: &str = "fleet-sync";
    if status.last_error.is_empty() {
        return Finding::ok(CHECK, "no failure since the last answer");
    }
    Finding::warn(
        CHECK,
        format!(
            "reaching the controller failed {}: {}",
            time::ago(status.last_error_at, now),
            status.last_error
        ),
        "rosterd retries on its own; check the network to the controllers (roster hosts status \
         lists them) and journalctl -u rosterd",
    )
}

fn reports(status: &FleetStatus) -> Finding {
    const CHECK: &str = "fleet-reports";
    let waiting = status.reports_waiting;
    if waiting > REPORTS_WARN {
        return Finding::warn(
            CHECK,
            format!(
                "{waiting} reports (sessions, login results, audit lines) wait to be sent: no \
                 controller has taken them lately"
            ),
            "make a controller reachable; rosterd sends them at its next answer",
        );
    }
    Finding::ok(CHECK, format!("{waiting} reports waiting to be sent"))
}

/// The drop-in that gives rosterd its network: on a systemd host (and
/// under `--root`, in the root's files), it must be linked in.
fn drop_in(host: &Host) -> Finding {
    const CHECK: &str = "fleet-drop-in";
    let real_root = host.root == Path::new("/");
    if real_root && !Path::new("/run/systemd/system").exists() {
        return Finding::ok(
            CHECK,
            "not a systemd host (no /run/systemd/system): no unit confines rosterd's network",
        );
    }
    let path = host.path(Path::new(DROP_IN));
    let shown = path.display();
    let link_it = format!(
        "ln -s {SHIPPED_DROP_IN} {DROP_IN}; systemctl daemon-reload; systemctl restart rosterd \
         (roster hosts join does this)"
    );
    let meta = match path.symlink_metadata() {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Finding::fail(
                CHECK,
                format!(
                    "{shown} is missing: rosterd.service keeps PrivateNetwork=yes, so rosterd \
                     can't reach its controllers"
                ),
                link_it,
            );
        }
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!("can't inspect {shown}: {e}"),
                "run with sudo",
            );
        }
    };
    // The file systemd reads: a link's target, itself under the root.
    let file = if meta.file_type().is_symlink() {
        match std::fs::read_link(&path) {
            Ok(target) if target.is_absolute() => host.path(&target),
            Ok(target) => path.parent().unwrap_or(Path::new("/")).join(target),
            Err(e) => {
                return Finding::fail(
                    CHECK,
                    format!("can't read the link {shown}: {e}"),
                    "run with sudo",
                );
            }
        }
    } else {
        path.clone()
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Finding::fail(
                CHECK,
                format!(
                    "{shown} links to {}, which is missing: rosterd.service keeps \
                     PrivateNetwork=yes, so rosterd can't reach its controllers",
                    file.display()
                ),
                format!(
                    "reinstall the roster package (it ships {SHIPPED_DROP_IN}), then \
                     systemctl daemon-reload; systemctl restart rosterd"
                ),
            );
        }
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!("can't read {}: {e}", file.display()),
                "run with sudo",
            );
        }
    };
    if !text.lines().any(|l| l.trim() == "PrivateNetwork=no") {
        return Finding::warn(
            CHECK,
            format!(
                "{shown} doesn't set PrivateNetwork=no: rosterd may have no network to reach \
                 its controllers"
            ),
            link_it,
        );
    }
    Finding::ok(
        CHECK,
        format!("{shown} opens rosterd's network to reach its controllers"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    /// A healthy host: answered a second ago, a day's grace, a certificate
    /// with 20 days left.
    fn healthy() -> FleetStatus {
        FleetStatus {
            enrolled: true,
            hostname: "web-1".into(),
            environment: "prod".into(),
            controllers: vec!["https://ctl-1:8443".into(), "https://ctl-2:8443".into()],
            last_answer: NOW - 1,
            offline_for_secs: 1,
            offline_grace_secs: 86_400,
            within_grace: true,
            grace_ends: NOW - 1 + DAY,
            certificate_not_after: NOW + 20 * DAY,
            clock_offset: 2,
            reports_waiting: 3,
            ..FleetStatus::default()
        }
    }

    fn find<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
        findings
            .iter()
            .find(|f| f.check == check)
            .unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
    }

    #[test]
    fn a_healthy_host_passes_every_status_check() {
        let findings = judge(&healthy(), NOW);
        let checks: Vec<_> = findings.iter().map(|f| f.check).collect();
        assert_eq!(
            checks,
            [
                "fleet-certificate",
                "fleet-answer",
                "fleet-clock",
                "fleet-sync",
                "fleet-reports"
            ]
        );
        for f in &findings {
            assert_eq!(f.status, Status::Ok, "{f:#?}");
            assert!(f.fix.is_none(), "{f:#?}");
        }
        assert!(
            find(&findings, "fleet-answer")
                .message
                .contains("offline logins would end in 23 hours"),
            "{findings:#?}"
        );
        let line = enrolled(&healthy());
        assert_eq!(line.status, Status::Ok);
        assert!(line.message.contains("\"web-1\""), "{line:#?}");
        assert!(line.message.contains("https://ctl-2:8443"), "{line:#?}");
    }

    #[test]
    fn a_certificate_warns_within_a_week_and_fails_once_expired() {
        let mut status = healthy();
        status.certificate_not_after = NOW + 8 * DAY;
        assert_eq!(certificate(&status, NOW).status, Status::Ok);
        status.certificate_not_after = NOW + 6 * DAY;
        let f = certificate(&status, NOW);
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(f.message.contains("expires in 6 days"), "{f:#?}");
        assert!(f.message.contains("renewal is failing"), "{f:#?}");
        status.certificate_not_after = NOW - 2 * DAY;
        let f = certificate(&status, NOW);
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(f.message.contains("expired 2 days ago"), "{f:#?}");
        assert!(f.fix.as_deref().is_some_and(|s| s.contains("join again")));
        status.certificate_not_after = NOW;
        assert_eq!(certificate(&status, NOW).status, Status::Fail);
        status.certificate_not_after = 0;
        assert_eq!(certificate(&status, NOW).status, Status::Warn);
    }

    #[test]
    fn past_the_grace_fails_saying_since_when_and_that_logins_stop() {
        let mut status = healthy();
        status.last_answer = NOW - 30 * 3600;
        status.offline_for_secs = 30 * 3600;
        status.within_grace = false;
        status.grace_ends = status.last_answer + DAY;
        let f = answer(&status, NOW);
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(
            f.message.contains(&time::timestamp(status.last_answer)),
            "{f:#?}"
        );
        assert!(f.message.contains("(1 day ago)"), "{f:#?}");
        assert!(f.message.contains("ended"), "{f:#?}");
        assert!(f.message.contains("6 hours ago"), "{f:#?}");
        assert!(f.message.contains("Roster users can't log in"), "{f:#?}");
        assert!(f.fix.is_some());
    }

    #[test]
    fn a_quarter_of_the_grace_left_warns() {
        let mut status = healthy();
        // 17 h offline of a 24 h grace: 7 h left, more than a quarter.
        status.last_answer = NOW - 17 * 3600;
        status.offline_for_secs = 17 * 3600;
        assert_eq!(answer(&status, NOW).status, Status::Ok);
        // 19 h offline: 5 h left, less than a quarter (6 h).
        status.last_answer = NOW - 19 * 3600;
        status.offline_for_secs = 19 * 3600;
        let f = answer(&status, NOW);
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(f.message.contains("end in 5 hours"), "{f:#?}");
        assert!(f.message.contains("less than a quarter"), "{f:#?}");
    }

    #[test]
    fn no_offline_grace_and_no_answer_yet_are_said_as_such() {
        let mut status = healthy();
        status.offline_grace_secs = 0;
        let f = answer(&status, NOW);
        assert_eq!(f.status, Status::Ok, "{f:#?}");
        assert!(f.message.contains("no offline logins"), "{f:#?}");
        status.within_grace = false;
        status.last_answer = NOW - 120;
        let f = answer(&status, NOW);
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(f.message.contains("offline_grace 0"), "{f:#?}");
        status.last_answer = 0;
        let f = answer(&status, NOW);
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(f.message.contains("no controller has answered"), "{f:#?}");
    }

    #[test]
    fn a_clock_more_than_a_minute_off_warns_either_way() {
        let mut status = healthy();
        for (offset, want) in [
            (60, Status::Ok),
            (-60, Status::Ok),
            (61, Status::Warn),
            (-300, Status::Warn),
        ] {
            status.clock_offset = offset;
            assert_eq!(clock(&status).status, want, "{offset}");
        }
        status.clock_offset = -300;
        assert!(clock(&status).message.contains("300 s ahead of"));
        status.clock_offset = 90;
        assert!(clock(&status).message.contains("90 s behind"));
    }

    #[test]
    fn revoked_fails_and_says_how_to_come_back() {
        let mut status = healthy();
        status.revoked = true;
        let f = enrolled(&status);
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(f.message.contains("revoked"), "{f:#?}");
        let fix = f.fix.unwrap_or_default();
        assert!(fix.contains("new join token"), "{fix}");
        assert!(fix.contains("roster hosts leave"), "{fix}");
        assert!(fix.contains("roster hosts join"), "{fix}");
    }

    #[test]
    fn the_last_failure_is_shown_and_a_backlog_warns() {
        let mut status = healthy();
        status.last_error = "connection refused by https://ctl-1:8443".into();
        status.last_error_at = NOW - 300;
        let findings = judge(&status, NOW);
        let f = find(&findings, "fleet-sync");
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(f.message.contains("5 minutes ago"), "{f:#?}");
        assert!(f.message.contains("connection refused"), "{f:#?}");
        status.reports_waiting = 1000;
        assert_eq!(reports(&status).status, Status::Ok);
        status.reports_waiting = 1001;
        let f = reports(&status);
        assert_eq!(f.status, Status::Warn, "{f:#?}");
        assert!(f.message.starts_with("1001 reports"), "{f:#?}");
    }

    #[test]
    fn the_fleet_folder_sits_beside_the_database() {
        assert_eq!(
            folder(Path::new("/var/lib/roster/roster.db")),
            PathBuf::from("/var/lib/roster/fleet")
        );
        assert_eq!(folder(Path::new("roster.db")), PathBuf::from("./fleet"));
    }
}
