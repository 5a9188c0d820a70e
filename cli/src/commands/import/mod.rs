//! `roster users import`: bring a standalone host's own human accounts
//! into Roster (DESIGN.md "Adopting existing accounts").
//!
//! The CLI, as root, reads the accounts (the host's passwd/shadow/group by
//! default, or a CSV/JSON list), checks the whole input first, and edits
//! the local files; rosterd does the Roster side (`Import.ImportUsers`,
//! each user in a transaction of its own, one NSS snapshot write per
//! batch). Per batch: rosterd commits the users, their homes are chowned
//! to the new uids, then their local entries come out of the files under
//! `lckpwdf` (a dated backup of each file taken first); if the files
//! can't be written the batch's users are deleted from Roster again and
//! the homes chowned back. A re-run finds the users an interrupted run
//! committed (rosterd answers "already imported") and finishes them.
//! `--undo BACKUP` merges the removed entries back, chowns back and asks
//! rosterd to delete the imported users unchanged since.

mod chown;
mod files;
mod source;

use super::{Ctx, print_json};
use crate::args::ImportArgs;
use crate::errors::CliError;
use chown::Move;
use roster_client::{ImportRequest, ImportUserRecord, ImportUserResult, ImportedUserRef, Level};
use serde::{Deserialize, Serialize};
use source::{Account, GroupLine, HashField, HostPaths};
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Records per rosterd call: each batch is one NSS snapshot write and one
/// rewrite of the account files.
const BATCH: usize = 250;

/// Groups whose members can use sudo on the distributions Roster runs on.
const SUDO_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];

/// Names rosterd always refuses (core's reserved names), said in the plan
/// so a dry run shows the skip; rosterd checks again.
const RESERVED: [&str; 4] = ["root", "admin", "wheel", "sudo"];

/// Shells that mean "no logins": such accounts aren't human.
const NO_LOGIN_SHELLS: [&str; 5] = ["nologin", "false", "sync", "shutdown", "halt"];

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

fn local(message: impl Into<String>) -> CliError {
    CliError::Local(message.into())
}

/// One account the import will take.
#[derive(Clone, Debug)]
struct Planned {
    account: Account,
    /// Its Roster name (after `--rename`).
    name: String,
    hash: HashField,
    level: Level,
    sudoer: bool,
    /// Its private group, removed with it.
    private_group: Option<GroupLine>,
    /// Supplementary groups it leaves.
    member_of: Vec<String>,
}

/// The whole plan, made before anything changes.
struct Plan {
    users: Vec<Planned>,
    /// (name, why) for accounts chosen but not imported.
    skipped: Vec<(String, String)>,
    /// (where, why) for invalid records skipped with --skip-invalid.
    invalid: Vec<(String, String)>,
    host: Option<HostPaths>,
    /// Why the import would be refused (the last local sudoer), said by a
    /// dry run, an error otherwise.
    refusal: Option<String>,
}

/// What the backup folder's `manifest.json` keeps for `--undo`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, PathBuf>,
    chown_paths: Vec<PathBuf>,
    users: Vec<ManifestUser>,
    /// The run ended (or was undone). A run killed or stopped by an error
    /// leaves it false: the re-run continues this folder, so the one
    /// backup it prints undoes both runs. (Manifests without the field
    /// are finished ones: nothing continues them.)
    #[serde(default = "finished_unless_said")]
    finished: bool,
}

fn finished_unless_said() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize)]
struct ManifestUser {
    name: String,
    local_name: String,
    old_uid: Option<u32>,
    old_gid: Option<u32>,
    uid: u32,
    fingerprint: String,
    home: String,
    /// file name (passwd, shadow, group, gshadow) → its removed lines.
    removed: BTreeMap<String, Vec<String>>,
    /// (file, group) whose member list named it.
    memberships: Vec<(String, String)>,
}

fn host_paths(args: &ImportArgs) -> HostPaths {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let under = |rel: &str| root.join(rel);
    HostPaths {
        passwd: args.passwd.clone().unwrap_or_else(|| under("etc/passwd")),
        shadow: args.shadow.clone().unwrap_or_else(|| under("etc/shadow")),
        group: args.group.clone().unwrap_or_else(|| under("etc/group")),
        gshadow: args.gshadow.clone().unwrap_or_else(|| under("etc/gshadow")),
        login_defs: args
            .login_defs
            .clone()
            .unwrap_or_else(|| under("etc/login.defs")),
        root,
    }
}

fn real_shell(shell: &str) -> bool {
    let base = Path::new(shell)
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    !shell.is_empty() && !NO_LOGIN_SHELLS.contains(&base.as_str())
}

fn renames(args: &ImportArgs) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for pair in &args.rename {
        let Some((old, new)) = pair.split_once('=') else {
            return Err(usage(format!("--rename {pair:?}: write it OLD=NEW")));
        };
        if out.insert(old.to_owned(), new.to_owned()).is_some() {
            return Err(usage(format!("--rename names {old:?} twice")));
        }
    }
    Ok(out)
}

/// The record's own problems (beyond the source's), checked for every
/// chosen record before anything changes.
fn record_problem(account: &Account) -> Option<String> {
    if let Some(problem) = &account.invalid {
        return Some(problem.clone());
    }
    if !account.home.starts_with('/') {
        return Some(format!(
            "the home {:?} is not an absolute path",
            account.home
        ));
    }
    if !account.shell.starts_with('/') {
        return Some(format!(
            "the shell {:?} is not an absolute path",
            account.shell
        ));
    }
    if account.display_name.chars().any(char::is_control) {
        return Some("the display name holds control characters".into());
    }
    match &account.shadow {
        None => Some("it has no shadow entry".into()),
        Some(field) => source::hash_field(field).err(),
    }
}

fn make_plan(args: &ImportArgs) -> Result<Plan, CliError> {
    let from_list = args.csv.is_some() || args.json_file.is_some();
    let host = (!from_list).then(|| host_paths(args));
    let accounts = if let Some(csv) = &args.csv {
        source::csv_accounts(csv).map_err(local)?
    } else if let Some(json) = &args.json_file {
        source::json_accounts(json).map_err(local)?
    } else if let Some(host) = &host {
        source::host_accounts(host).map_err(local)?
    } else {
        Vec::new()
    };
    let groups = match &host {
        Some(host) => source::groups(&host.group).map_err(local)?,
        None => Vec::new(),
    };
    let defs = match &host {
        Some(host) => roster_hostconfig::local_files::login_defs(
            &std::fs::read_to_string(&host.login_defs).unwrap_or_default(),
        ),
        None => roster_hostconfig::local_files::login_defs(""),
    };
    let renames = renames(args)?;
    let wanted: BTreeSet<&str> = args.users.iter().map(String::as_str).collect();
    // Indexes: a host has thousands of accounts, so no lookup scans them.
    let names: BTreeSet<&str> = accounts.iter().map(|a| a.local_name.as_str()).collect();
    let mut member_of_map: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for g in &groups {
        for m in &g.members {
            member_of_map
                .entry(m.as_str())
                .or_default()
                .push(g.name.clone());
        }
    }
    let mut group_by_gid: BTreeMap<u32, &GroupLine> = BTreeMap::new();
    for g in &groups {
        if let Some(gid) = g.gid {
            group_by_gid.entry(gid).or_insert(g);
        }
    }
    let mut primary_users: BTreeMap<u32, usize> = BTreeMap::new();
    for a in &accounts {
        if let Some(gid) = a.gid {
            *primary_users.entry(gid).or_default() += 1;
        }
    }
    for name in &wanted {
        if !names.contains(name) {
            return Err(usage(format!(
                "no account {name:?} in the input: check --users"
            )));
        }
    }
    for old in renames.keys() {
        if !names.contains(old.as_str()) {
            return Err(usage(format!(
                "--rename {old}=…: no account {old:?} in the input"
            )));
        }
    }
    let mut plan = Plan {
        users: Vec::new(),
        skipped: Vec::new(),
        invalid: Vec::new(),
        host: host.clone(),
        refusal: None,
    };
    let mut sudoers_without_level = Vec::new();
    for account in &accounts {
        let named = wanted.contains(account.local_name.as_str());
        if !named && !args.all_human {
            continue;
        }
        let human = account.uid.is_none_or(|uid| {
            uid != 0 && u64::from(uid) >= defs.uid_min && u64::from(uid) <= defs.uid_max
        }) && real_shell(&account.shell)
            && account.local_name != "root";
        if !human {
            if named {
                plan.skipped.push((
                    account.local_name.clone(),
                    format!(
                        "not a human account (uid {} outside {}–{} of login.defs, or shell {:?}): \
                         system accounts and root are never imported",
                        account.uid.map(|u| u.to_string()).unwrap_or_default(),
                        defs.uid_min,
                        defs.uid_max,
                        account.shell
                    ),
                ));
            }
            continue;
        }
        if let Some(problem) = record_problem(account) {
            if args.skip_invalid {
                plan.invalid.push((account.origin.clone(), problem));
                continue;
            }
            return Err(local(format!(
                "{}: the account {:?} is invalid: {problem}; nothing was imported \
                 (fix it, leave it out, or pass --skip-invalid)",
                account.origin, account.local_name
            )));
        }
        let name = renames
            .get(&account.local_name)
            .cloned()
            .unwrap_or_else(|| account.local_name.clone());
        if RESERVED.contains(&name.as_str()) {
            plan.skipped.push((
                account.local_name.clone(),
                format!("Roster refuses the name {name:?}: import it with --rename {name}=NEW"),
            ));
            continue;
        }
        if let Err(why) = roster_hostconfig::names::name_rule(&name, "user name") {
            plan.skipped.push((
                account.local_name.clone(),
                format!("{why}: import it with --rename {}=NEW", account.local_name),
            ));
            continue;
        }
        let member_of: Vec<String> = member_of_map
            .get(account.local_name.as_str())
            .cloned()
            .unwrap_or_default();
        let primary = account.gid.and_then(|gid| group_by_gid.get(&gid).copied());
        let sudoer = SUDO_GROUPS
            .iter()
            .any(|s| member_of.iter().any(|g| g == s) || primary.is_some_and(|p| p.name == *s));
        let private_group = primary
            .filter(|g| {
                g.name == account.local_name
                    && g.members.iter().all(|m| *m == account.local_name)
                    && g.gid.and_then(|gid| primary_users.get(&gid)).copied() == Some(1)
            })
            .cloned();
        let level = match (account.level, sudoer, args.sudoers_level, args.level) {
            (Some(level), _, _, _) => level,
            (None, true, Some(level), _) => level,
            (None, true, None, _) => {
                sudoers_without_level.push(account.local_name.clone());
                continue;
            }
            (None, false, _, Some(level)) => level,
            (None, false, _, None) => {
                return Err(usage(
                    "say the level the imported users get here: --level status|read|write|admin",
                ));
            }
        };
        let hash = account
            .shadow
            .as_deref()
            .map(source::hash_field)
            .transpose()
            .ok()
            .flatten()
            .unwrap_or(HashField::None);
        plan.users.push(Planned {
            account: account.clone(),
            name,
            hash,
            level,
            sudoer,
            private_group,
            member_of,
        });
    }
    if !sudoers_without_level.is_empty() {
        return Err(usage(format!(
            "{} can use sudo here (sudo, wheel or admin): say the level they get with \
             --sudoers-level L (no default: it applies to every host of the environment)",
            sudoers_without_level.join(", ")
        )));
    }
    if let Some(host) = &host {
        plan.refusal = check_break_glass(args, host, &accounts, &groups, &plan.users).err();
    }
    Ok(plan)
}

/// Refuses to remove the last local account able to use sudo (a member
/// of sudo/wheel/admin with a usable password, or root with one): the
/// break-glass admin `roster doctor` checks for.
fn check_break_glass(
    args: &ImportArgs,
    host: &HostPaths,
    accounts: &[Account],
    groups: &[GroupLine],
    users: &[Planned],
) -> Result<(), String> {
    let usable = |a: &Account| {
        a.shadow
            .as_deref()
            .is_some_and(|h| matches!(source::hash_field(h), Ok(HashField::Usable(_))))
    };
    let sudo_groups: Vec<&GroupLine> = groups
        .iter()
        .filter(|g| SUDO_GROUPS.contains(&g.name.as_str()))
        .collect();
    let can_sudo = |a: &Account| {
        a.local_name == "root"
            || sudo_groups
                .iter()
                .any(|g| g.members.contains(&a.local_name) || (g.gid.is_some() && g.gid == a.gid))
    };
    let leaving: BTreeSet<&str> = users
        .iter()
        .map(|u| u.account.local_name.as_str())
        .collect();
    let before: Vec<&Account> = accounts
        .iter()
        .filter(|a| can_sudo(a) && usable(a))
        .collect();
    let after = before
        .iter()
        .filter(|a| !leaving.contains(a.local_name.as_str()))
        .count();
    if !before.is_empty() && after == 0 && !args.force {
        let names: Vec<&str> = before.iter().map(|a| a.local_name.as_str()).collect();
        return Err(format!(
            "importing {} would remove the last local account able to use sudo on {} \
             (the break-glass admin for when rosterd is down, which roster doctor checks \
             for): leave one out of the import, or pass --force",
            names.join(", "),
            host.root.display()
        ));
    }
    Ok(())
}

fn hash_words(hash: &HashField) -> String {
    match hash {
        HashField::Usable(h) => format!("{} → active", source::scheme(h).unwrap_or("?")),
        HashField::Locked(h) => format!("{}, locked → suspended", source::scheme(h).unwrap_or("?")),
        HashField::None => "no password → pending".into(),
    }
}

/// The home chowned for `user` (unless --no-chown); --chown-paths'
/// trees are the whole batch's, walked once for all its users.
fn home_tree(args: &ImportArgs, user: &Planned) -> Option<PathBuf> {
    (!args.no_chown && user.account.home.starts_with('/') && user.account.home != "/")
        .then(|| PathBuf::from(&user.account.home))
}

/// Each of `users`' files moved to its uid in `moves` (same order): the
/// homes one by one, then each of `shared` (--chown-paths) in one walk;
/// answers the entries changed per user and the first error met.
fn move_files(
    homes: &[Option<PathBuf>],
    shared: &[PathBuf],
    moves: &[Move],
) -> (Vec<u64>, Option<String>) {
    let mut counts = vec![0; moves.len()];
    let mut first_error = None;
    for ((home, moving), n) in homes.iter().zip(moves).zip(counts.iter_mut()) {
        if let Some(home) = home {
            let (changed, error) = chown::apply(home, moving);
            *n += changed;
            first_error = first_error.or(error);
        }
    }
    for tree in shared {
        let (changed, error) = chown::apply_each(tree, moves);
        for (n, more) in counts.iter_mut().zip(changed) {
            *n += more;
        }
        first_error = first_error.or(error);
    }
    (counts, first_error)
}

fn print_plan(args: &ImportArgs, plan: &Plan) {
    println!("import plan (dry run: nothing changes)");
    // Per user (with an old uid): its id move, and --chown-paths' counts
    // from one walk of each tree.
    let moves: Vec<(usize, Move)> = plan
        .users
        .iter()
        .enumerate()
        .filter_map(|(i, user)| {
            user.account.uid.map(|uid| {
                let moving = Move {
                    from_uid: uid,
                    to_uid: uid,
                    from_gid: user.private_group.as_ref().and_then(|g| g.gid),
                    to_gid: uid,
                };
                (i, moving)
            })
        })
        .collect();
    let only_moves: Vec<Move> = moves.iter().map(|(_, m)| *m).collect();
    let shared: Vec<(&PathBuf, Vec<u64>)> = match plan.host {
        Some(_) => args
            .chown_paths
            .iter()
            .map(|tree| (tree, chown::count_each(tree, &only_moves)))
            .collect(),
        None => Vec::new(),
    };
    let slot: BTreeMap<usize, (usize, Move)> = moves
        .iter()
        .enumerate()
        .map(|(j, (i, moving))| (*i, (j, *moving)))
        .collect();
    for (i, user) in plan.users.iter().enumerate() {
        let rename = if user.name != user.account.local_name {
            format!(" as {}", user.name)
        } else {
            String::new()
        };
        println!(
            "  {}{rename}: uid {} → a Roster uid, level {}{}, {}",
            user.account.local_name,
            user.account
                .uid
                .map(|u| u.to_string())
                .unwrap_or_else(|| "-".into()),
            user.level,
            if user.sudoer { " (sudoer)" } else { "" },
            hash_words(&user.hash),
        );
        if plan.host.is_some() {
            if !user.member_of.is_empty() {
                println!("    leaves the groups: {}", user.member_of.join(", "));
            }
            if let Some((j, moving)) = slot.get(&i) {
                if let Some(home) = home_tree(args, user) {
                    println!(
                        "    {}: {} files to chown",
                        home.display(),
                        chown::count(&home, moving)
                    );
                }
                for (tree, counts) in &shared {
                    println!(
                        "    {}: {} files to chown",
                        tree.display(),
                        counts.get(*j).copied().unwrap_or(0)
                    );
                }
            }
        }
    }
    for (name, why) in &plan.skipped {
        println!("  skip {name}: {why}");
    }
    for (origin, why) in &plan.invalid {
        println!("  skip invalid {origin}: {why}");
    }
    println!(
        "{} to import, {} skipped, {} invalid skipped",
        plan.users.len(),
        plan.skipped.len(),
        plan.invalid.len()
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and can't fail.
    unsafe { libc::geteuid() == 0 }
}

fn backup_base(args: &ImportArgs, host: &HostPaths) -> PathBuf {
    args.backup_dir
        .clone()
        .unwrap_or_else(|| host.root.join("var/backups"))
}

/// The backup folder (and manifest) of an earlier import of the same
/// account files that didn't finish (killed, or stopped by an error), the
/// newest if several: a re-run continues it, so its backup keeps the files
/// as they were before any run, and one `--undo` of it undoes every run.
fn unfinished_import(
    args: &ImportArgs,
    host: &HostPaths,
    files: &BTreeMap<String, PathBuf>,
) -> Option<(PathBuf, Manifest)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(backup_base(args, host))
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("roster-import-"))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().rev().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        (!manifest.finished && manifest.files == *files).then_some((dir, manifest))
    })
}

fn dated_backup_dir(args: &ImportArgs, host: &HostPaths) -> PathBuf {
    let base = backup_base(args, host);
    let now = crate::output::time::now();
    let stamp = crate::output::time::timestamp(now)
        .replace([' ', ':'], "")
        .replace('-', "");
    let mut dir = base.join(format!("roster-import-{stamp}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.join(format!("roster-import-{stamp}-{n}"));
    }
    dir
}

/// Per-user output: a JSON line with --json, else a progress bar on a
/// terminal (nothing without one).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Progress {
    fn new(json: bool, total: usize) -> Progress {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "importing {bar:40} {pos}/{len} users ({eta} left)",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar, json }
    }

    fn user(&self, result: &ImportUserResult, files_chowned: u64) -> Result<(), CliError> {
        if self.json {
            let line = serde_json::json!({
                "name": result.name,
                "outcome": result.outcome,
                "reason": result.reason,
                "uid": result.uid,
                "state": result.state,
                "registration_code": result.registration_code,
                "files_chowned": files_chowned,
                "keys": result.keys,
                "key_problems": result.key_problems,
            });
            println!("{line}");
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        Ok(())
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[derive(Default, Serialize)]
struct Summary {
    imported: usize,
    already_imported: usize,
    skipped: Vec<(String, String)>,
    codes_issued: usize,
    files_chowned: u64,
    files_left: BTreeMap<String, (u64, Vec<PathBuf>)>,
    backup: Option<PathBuf>,
    memberships_removed: Vec<(String, String)>,
    /// (user, why) for each `authorized_keys` line Roster refused: the
    /// user is imported without it.
    key_problems: Vec<(String, String)>,
}

pub async fn run(ctx: &mut Ctx<'_>, args: ImportArgs) -> Result<(), CliError> {
    if let Some(backup) = args.undo.clone() {
        return undo(ctx, &args, &backup).await;
    }
    let plan = make_plan(&args)?;
    if args.dry_run {
        let continues = plan.host.as_ref().and_then(|host| {
            let files = files::edited_files(host)
                .into_iter()
                .map(|(name, path)| (name.to_owned(), path))
                .collect();
            unfinished_import(&args, host, &files).map(|(dir, _)| dir)
        });
        if args.json {
            let users: Vec<_> = plan
                .users
                .iter()
                .map(|u| {
                    serde_json::json!({
                        "name": u.name, "local_name": u.account.local_name,
                        "level": u.level, "sudoer": u.sudoer, "hash": hash_words(&u.hash),
                        "leaves_groups": u.member_of,
                    })
                })
                .collect();
            return print_json(&serde_json::json!({
                "dry_run": true, "users": users, "skipped": plan.skipped, "invalid": plan.invalid,
                "refusal": plan.refusal, "continues": continues.map(|dir| dir.display().to_string()),
            }));
        }
        print_plan(&args, &plan);
        if let Some(dir) = continues {
            println!(
                "an interrupted import is backed up in {}: the run would continue it (its backup and --undo cover both)",
                dir.display()
            );
        }
        if let Some(refusal) = &plan.refusal {
            println!("refused as it stands: {refusal}");
        }
        return Ok(());
    }
    if let Some(refusal) = plan.refusal {
        return Err(local(refusal));
    }
    if plan.host.is_some() && !is_root() {
        return Err(local(
            "importing edits the host's account files: run with sudo (or try --dry-run)",
        ));
    }
    let mut summary = Summary {
        skipped: plan.skipped.clone(),
        ..Summary::default()
    };
    summary.skipped.extend(
        plan.invalid
            .iter()
            .map(|(o, why)| (o.clone(), format!("invalid: {why}"))),
    );
    let leaving: Vec<String> = plan
        .users
        .iter()
        .flat_map(|u| {
            std::iter::once(u.account.local_name.clone())
                .chain(u.private_group.as_ref().map(|g| g.name.clone()))
        })
        .collect();
    let mut manifest = Manifest {
        chown_paths: args.chown_paths.clone(),
        ..Manifest::default()
    };
    let import = ctx.client.import().await?;
    if plan.host.is_some() && !plan.users.is_empty() {
        // Whether this host may import at all (root; not enrolled in a
        // fleet) is core's rule: asked with an empty batch before a backup
        // is taken or a file is touched.
        let may_import = ImportRequest {
            records: Vec::new(),
            leaving: Vec::new(),
            issue_codes: false,
        };
        import
            .import_users(&may_import)
            .await
            .map_err(|e| ctx.client.error(e))?;
    }
    let backup = match &plan.host {
        Some(host) if !plan.users.is_empty() => {
            let edited = files::edited_files(host);
            let names: BTreeMap<String, PathBuf> = edited
                .iter()
                .map(|(name, path)| ((*name).to_owned(), path.clone()))
                .collect();
            if let Some((dir, earlier)) = unfinished_import(&args, host, &names) {
                eprintln!(
                    "roster: continuing the interrupted import backed up in {}",
                    dir.display()
                );
                let mut chown_paths = earlier.chown_paths.clone();
                for path in &args.chown_paths {
                    if !chown_paths.contains(path) {
                        chown_paths.push(path.clone());
                    }
                }
                manifest = Manifest {
                    chown_paths,
                    ..earlier
                };
                Some(dir)
            } else {
                let dir = dated_backup_dir(&args, host);
                {
                    let _lock = files::PasswdLock::take().map_err(local)?;
                    files::back_up(&edited, &dir).map_err(local)?;
                }
                manifest.files = names;
                manifest.finished = false;
                // Written before any change: a run killed from here on is
                // found and continued by the next.
                write_manifest(&dir, &manifest)?;
                Some(dir)
            }
        }
        _ => None,
    };
    summary.backup = backup.clone();
    let progress = Progress::new(args.json, plan.users.len());
    let mut codes = Vec::new();
    let mut chowned_trees = BTreeSet::new();
    for batch in plan.users.chunks(BATCH) {
        let request = ImportRequest {
            records: batch
                .iter()
                .map(|user| record(user, plan.host.is_some()))
                .collect(),
            leaving: leaving.clone(),
            issue_codes: !args.no_codes,
        };
        let results = match import.import_users(&request).await {
            Ok(results) => results,
            Err(e) => {
                progress.done();
                return Err(ctx.client.error(e));
            }
        };
        let mut done: Vec<(&Planned, &ImportUserResult)> = Vec::new();
        for (user, result) in batch.iter().zip(&results) {
            match result.outcome.as_str() {
                "imported" | "already-imported" => done.push((user, result)),
                _ => summary
                    .skipped
                    .push((user.account.local_name.clone(), result.reason.clone())),
            }
        }
        // Homes first: a crash after this leaves the users in the files,
        // and the re-run chowns what is left and removes them.
        let mut chowned: BTreeMap<String, u64> = BTreeMap::new();
        // The batch's users with an old uid, their homes and id moves.
        let moving: Vec<(&Planned, &ImportUserResult, u32)> = done
            .iter()
            .filter_map(|(user, result)| user.account.uid.map(|old| (*user, *result, old)))
            .collect();
        let homes: Vec<Option<PathBuf>> = moving
            .iter()
            .map(|(user, _, _)| home_tree(&args, user))
            .collect();
        if plan.host.is_some() {
            let moves: Vec<Move> = moving
                .iter()
                .map(|(user, result, old_uid)| Move {
                    from_uid: *old_uid,
                    to_uid: result.uid,
                    from_gid: user.private_group.as_ref().and_then(|g| g.gid),
                    to_gid: result.uid,
                })
                .collect();
            let (counts, error) = move_files(&homes, &args.chown_paths, &moves);
            if let Some(error) = error {
                eprintln!("roster: {error}");
            }
            for ((user, _, _), n) in moving.iter().zip(counts) {
                *chowned.entry(user.name.clone()).or_default() += n;
            }
            chowned_trees.extend(homes.iter().flatten().cloned());
            chowned_trees.extend(args.chown_paths.iter().cloned());
        }
        if let Some(host) = &plan.host {
            if let Err(e) = remove_local_entries(host, &done, &mut manifest, &mut summary) {
                // Rolled back together: the batch's new users go again.
                let refs: Vec<ImportedUserRef> = done
                    .iter()
                    .filter(|(_, r)| r.outcome == "imported")
                    .map(|(_, r)| ImportedUserRef {
                        name: r.name.clone(),
                        uid: r.uid,
                        fingerprint: r.fingerprint.clone(),
                    })
                    .collect();
                let _ = import.undo_import(&refs).await;
                let back: Vec<Move> = moving
                    .iter()
                    .map(|(user, result, old_uid)| Move {
                        from_uid: result.uid,
                        to_uid: *old_uid,
                        from_gid: Some(result.uid),
                        to_gid: user.account.gid.unwrap_or(*old_uid),
                    })
                    .collect();
                move_files(&homes, &args.chown_paths, &back);
                progress.done();
                return Err(local(format!(
                    "{e}; this batch's users were taken out of Roster again and their files \
                     chowned back; users of earlier batches are imported (see {})",
                    backup
                        .as_ref()
                        .map(|b| b.display().to_string())
                        .unwrap_or_default()
                )));
            }
            if let Some(dir) = &backup {
                write_manifest(dir, &manifest)?;
            }
        }
        for (user, result) in &done {
            if result.outcome == "imported" {
                summary.imported += 1;
            } else {
                summary.already_imported += 1;
            }
            summary.key_problems.extend(
                result
                    .key_problems
                    .iter()
                    .map(|problem| (result.name.clone(), problem.clone())),
            );
            if !result.registration_code.is_empty() {
                summary.codes_issued += 1;
                codes.push((result.name.clone(), result.registration_code.clone()));
            }
            let n = chowned.get(&user.name).copied().unwrap_or(0);
            summary.files_chowned += n;
            progress.user(result, n)?;
        }
        for result in results.iter().filter(|r| r.outcome == "refused") {
            progress.user(result, 0)?;
        }
    }
    progress.done();
    if let Some(dir) = &backup {
        manifest.finished = true;
        write_manifest(dir, &manifest)?;
    }
    if let Some(host) = &plan.host {
        let places: Vec<PathBuf> = [
            "tmp",
            "var/tmp",
            "var/mail",
            "var/spool",
            "srv",
            "opt",
            "home",
        ]
        .iter()
        .map(|p| host.root.join(p))
        .collect();
        let old: BTreeMap<u32, String> = plan
            .users
            .iter()
            .filter_map(|u| u.account.uid.map(|uid| (uid, u.name.clone())))
            .collect();
        summary.files_left = chown::leftovers(&places, &chowned_trees, &old);
    }
    print_summary(&args, &summary, &codes)
}

/// `from_this_host`: the accounts are this host's (its files), so a home
/// named in them is this machine's and its `authorized_keys` is theirs; a
/// CSV or JSON list may come from anywhere, and a home path in it names
/// nothing here.
fn record(user: &Planned, from_this_host: bool) -> ImportUserRecord {
    let (hash, locked) = match &user.hash {
        HashField::Usable(h) => (h.clone(), false),
        HashField::Locked(h) => (h.clone(), true),
        HashField::None => (String::new(), false),
    };
    let mut ssh_keys = user.account.ssh_keys.clone();
    if ssh_keys.is_empty() && from_this_host && user.account.home.starts_with('/') {
        let keys = Path::new(&user.account.home).join(".ssh/authorized_keys");
        if let Ok(text) = std::fs::read_to_string(keys) {
            ssh_keys = text.lines().map(str::to_owned).collect();
        }
    }
    ImportUserRecord {
        name: user.name.clone(),
        display_name: user.account.display_name.clone(),
        home: user.account.home.clone(),
        shell: user.account.shell.clone(),
        hash,
        locked,
        level: user.level,
        ssh_keys,
    }
}

/// Takes `done`'s users out of the account files in one locked step;
/// records what came out in `manifest`.
fn remove_local_entries(
    host: &HostPaths,
    done: &[(&Planned, &ImportUserResult)],
    manifest: &mut Manifest,
    summary: &mut Summary,
) -> Result<(), String> {
    if done.is_empty() {
        return Ok(());
    }
    let _lock = files::PasswdLock::take()?;
    let users: BTreeSet<&str> = done
        .iter()
        .map(|(u, _)| u.account.local_name.as_str())
        .collect();
    let groups: BTreeSet<&str> = done
        .iter()
        .filter_map(|(u, _)| u.private_group.as_ref().map(|g| g.name.as_str()))
        .collect();
    let mut changes = Vec::new();
    let mut removed_by_file: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut memberships: Vec<(String, String, String)> = Vec::new();
    for (file, path) in files::edited_files(host) {
        let old = std::fs::read_to_string(&path)
            .map_err(|e| format!("can't read {}: {e}", path.display()))?;
        let (new, removed, pairs) = match file {
            "passwd" | "shadow" => {
                let (new, removed) = files::without_entries(&old, &users);
                (new, removed, Vec::new())
            }
            _ => {
                let (new, removed) = files::without_entries(&old, &groups);
                let (new, pairs) = files::without_members(&new, &users, file == "gshadow");
                (new, removed, pairs)
            }
        };
        memberships.extend(pairs.into_iter().map(|(g, m)| (file.to_owned(), g, m)));
        removed_by_file.insert(file, removed);
        changes.push((path, old, new));
    }
    files::replace_all(&changes)?;
    for (user, result) in done {
        let local = user.account.local_name.as_str();
        let private = user.private_group.as_ref().map(|g| g.name.as_str());
        let mut removed = BTreeMap::new();
        for (file, lines) in &removed_by_file {
            let owner = if matches!(*file, "passwd" | "shadow") {
                Some(local)
            } else {
                private
            };
            let mine: Vec<String> = lines
                .iter()
                .filter(|l| Some(l.split(':').next().unwrap_or("")) == owner)
                .cloned()
                .collect();
            removed.insert((*file).to_owned(), mine);
        }
        let mine: Vec<(String, String)> = memberships
            .iter()
            .filter(|(_, _, m)| m == local)
            .map(|(f, g, _)| (f.clone(), g.clone()))
            .collect();
        summary.memberships_removed.extend(
            mine.iter()
                .filter(|(f, _)| f == "group")
                .map(|(_, g)| (local.to_owned(), g.clone())),
        );
        manifest.users.push(ManifestUser {
            name: user.name.clone(),
            local_name: local.to_owned(),
            old_uid: user.account.uid,
            old_gid: user.account.gid,
            uid: result.uid,
            fingerprint: result.fingerprint.clone(),
            home: user.account.home.clone(),
            removed,
            memberships: mine,
        });
    }
    Ok(())
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(manifest)
        .map_err(|e| local(format!("can't write the import's manifest: {e}")))?;
    let path = dir.join("manifest.json");
    let temp = dir.join("manifest.json.tmp");
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| local(format!("can't write {}: {e}", path.display())))
}

fn print_summary(
    args: &ImportArgs,
    summary: &Summary,
    codes: &[(String, String)],
) -> Result<(), CliError> {
    if args.json {
        // One line, after the per-user lines: the output stays JSON lines.
        println!("{}", serde_json::json!({ "summary": summary }));
        return Ok(());
    }
    println!(
        "imported {}, already imported {}, skipped {}, registration codes issued {}, files chowned {}",
        summary.imported,
        summary.already_imported,
        summary.skipped.len(),
        summary.codes_issued,
        summary.files_chowned
    );
    for (name, why) in &summary.skipped {
        println!("  skipped {name}: {why}");
    }
    for (name, problem) in &summary.key_problems {
        println!("  {name}: skipped an SSH {problem}");
    }
    for (user, group) in &summary.memberships_removed {
        println!("  {user} left the local group {group}");
    }
    for (name, (n, paths)) in &summary.files_left {
        println!("  {n} files elsewhere still owned by {name}'s old uid, e.g.:");
        for path in paths {
            println!("    {}", path.display());
        }
    }
    if let Some(backup) = &summary.backup {
        println!(
            "backup of the account files: {} (undo with `roster users import --undo {}`)",
            backup.display(),
            backup.display()
        );
    }
    if !codes.is_empty() {
        println!("registration codes (shown once; each user types theirs at the login prompt):");
        for (name, code) in codes {
            println!("  {name}  {code}");
        }
    }
    Ok(())
}

async fn undo(ctx: &mut Ctx<'_>, args: &ImportArgs, backup: &Path) -> Result<(), CliError> {
    if !is_root() {
        return Err(local(
            "undoing an import edits the host's account files: run with sudo",
        ));
    }
    let path = backup.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        local(format!(
            "can't read {}: {e}: is it an import's backup folder?",
            path.display()
        ))
    })?;
    let mut manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        local(format!(
            "{} is not an import's manifest: {e}",
            path.display()
        ))
    })?;
    let import = ctx.client.import().await?;
    let refs: Vec<ImportedUserRef> = manifest
        .users
        .iter()
        .map(|u| ImportedUserRef {
            name: u.name.clone(),
            uid: u.uid,
            fingerprint: u.fingerprint.clone(),
        })
        .collect();
    let mut results = Vec::new();
    for chunk in refs.chunks(BATCH) {
        results.extend(
            import
                .undo_import(chunk)
                .await
                .map_err(|e| ctx.client.error(e))?,
        );
    }
    let gone: BTreeSet<&str> = results
        .iter()
        .filter(|r| r.outcome == "deleted" || r.reason == "no longer in Roster")
        .map(|r| r.name.as_str())
        .collect();
    let restoring: Vec<&ManifestUser> = manifest
        .users
        .iter()
        .filter(|u| gone.contains(u.name.as_str()))
        .collect();
    {
        let _lock = files::PasswdLock::take().map_err(local)?;
        let mut changes = Vec::new();
        for (file, path) in &manifest.files {
            let old = std::fs::read_to_string(path)
                .map_err(|e| local(format!("can't read {}: {e}", path.display())))?;
            let lines: Vec<String> = restoring
                .iter()
                .flat_map(|u| u.removed.get(file).cloned().unwrap_or_default())
                .collect();
            let pairs: Vec<(String, String)> = restoring
                .iter()
                .flat_map(|u| {
                    u.memberships
                        .iter()
                        .filter(|(f, _)| f == file)
                        .map(|(_, g)| (g.clone(), u.local_name.clone()))
                })
                .collect();
            let new = files::with_members(&files::with_entries(&old, &lines), &pairs);
            changes.push((path.clone(), old, new));
        }
        files::replace_all(&changes).map_err(local)?;
    }
    let (homes, back): (Vec<Option<PathBuf>>, Vec<Move>) = restoring
        .iter()
        .filter_map(|user| {
            let old_uid = user.old_uid?;
            let home =
                (user.home.starts_with('/') && user.home != "/").then(|| PathBuf::from(&user.home));
            let back = Move {
                from_uid: user.uid,
                to_uid: old_uid,
                from_gid: Some(user.uid),
                to_gid: user.old_gid.unwrap_or(old_uid),
            };
            Some((home, back))
        })
        .unzip();
    let (counts, _) = move_files(&homes, &manifest.chown_paths, &back);
    let chowned: u64 = counts.iter().sum();
    if !manifest.finished {
        // Undone: a later import starts a backup of its own, not this one.
        manifest.finished = true;
        write_manifest(backup, &manifest)?;
    }
    let kept: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| !gone.contains(r.name.as_str()))
        .map(|r| (r.name.as_str(), r.reason.as_str()))
        .collect();
    if args.json {
        return print_json(&serde_json::json!({
            "restored": gone, "kept": kept, "files_chowned": chowned,
        }));
    }
    println!(
        "restored {} local accounts, chowned {chowned} files back",
        restoring.len()
    );
    for (name, why) in &kept {
        println!("  kept {name} in Roster ({why}): its local entry was not restored");
    }
    Ok(())
}
