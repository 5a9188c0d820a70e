//! The command line, exactly as DESIGN.md's "The CLI surface" names it.
//!
//! Only the shape of the command line is checked here (which flags exist,
//! which exclude each other, the closed sets of roles, levels and scopes).
//! Every rule about names, sizes and rights is the daemon's: the CLI sends
//! what it was given and prints what rosterd answers.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand};
use roster_client::UnknownValue;
pub use roster_client::{Level, Role, Scope};
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Manage Roster's users, grants, environments, tokens and keys",
    long_about = "Manage Roster's users, grants, environments, tokens and keys.\n\n\
        rosterd decides who may do what from the caller's uid (or the token \
        presented): run admin commands with sudo, or as a Roster admin.\n\n\
        Exit codes: 0 ok, 1 error, 2 usage (including a value that is \
        missing with no terminal to ask on).\n\n\
        Environment: DBUS_SYSTEM_BUS_ADDRESS (the bus), ROSTER_TOKEN (act \
        as a token's user), ROSTER_TIMEOUT (seconds to wait for rosterd's \
        answer, default 60), ROSTER_DEBUG (print the raw transport error).",
    propagate_version = true
)]
pub struct Cli {
    /// Act as the user of the API token in FILE (else $ROSTER_TOKEN, if set).
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, change and inspect users, their grants and sessions.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Add, list and remove environments (named scopes of hosts).
    #[command(subcommand)]
    Environments(EnvironmentsCommand),
    /// Show who rosterd thinks you are, your role and grants.
    Whoami(JsonFlag),
    /// Finish a registration: enter the code an admin gave you, then a new password.
    ///
    /// The code is never taken on the command line (other users can read it
    /// there): it is asked for without echo, or read from standard input.
    Register {
        /// Read the code from the first line of standard input and the new
        /// password from the second.
        #[arg(long)]
        stdin: bool,
    },
    /// Create, list, rename and delete API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// On a host enrolled with a controller: log in there as a Roster user
    /// (name and password asked on the terminal), keeping a session in your
    /// runtime folder for the changes you make from this host.
    Login {
        /// Your Roster name (asked when not given).
        username: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// How long the session lasts, in hours (default 8).
        #[arg(long, value_name = "HOURS")]
        hours: Option<u32>,
    },
    /// Drop your `roster login` session (here and at the controller).
    Logout,
    /// Fleet mode: join this host to a controller, see where it stands, leave.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Keep secrets (passwords, API keys, certificates), share them, publish
    /// revisions that readers track until they move on.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print USERNAME's SSH keys if they may log in on this host (for sshd's
    /// AuthorizedKeysCommand); prints nothing otherwise, exit 0 either way.
    SshAuthorizedKeys {
        username: String,
        /// The NSS snapshot consulted before asking rosterd: a name it
        /// doesn't list gets nothing at once. Default: `nss_cache` from
        /// --config.
        #[arg(long, value_name = "PATH")]
        snapshot: Option<PathBuf>,
        /// rosterd's config, read for `nss_cache` only.
        #[arg(long, value_name = "PATH", default_value = "/etc/roster/rosterd.toml")]
        config: PathBuf,
    },
    /// Check this host's Roster setup and say how to fix what is wrong.
    ///
    /// Checks: rosterd answers on the bus; the database, its folder and the
    /// NSS snapshot have their modes; the snapshot holds every change (no
    /// failed write pending in rosterd); nsswitch.conf names roster; the PAM
    /// stack has pam_roster where the profile puts it; the uid range and
    /// admin_gid are free; the sudoers drop-in names the admin group; a
    /// local break-glass admin exists; pam_lastlog (warning). Exits 1 when
    /// a check fails (warnings don't).
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON: a list of {check, status, message, fix, fixed}.
    #[arg(long)]
    pub json: bool,
    /// Repair what is safe to repair: the modes of the database, its folder
    /// and the snapshot (and in fleet mode of the enrollment's files), the
    /// roster entries in nsswitch.conf, the sudoers drop-in (checked with
    /// visudo first).
    #[arg(long)]
    pub fix: bool,
    /// rosterd's config (default: ROOT/etc/roster/rosterd.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Check the host whose root folder is DIR: every host file, and every
    /// path in the config, is read under DIR (not the config given with
    /// --config itself).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

/// `roster generate …`: man pages and completions for packagers. Kept out
/// of [`Cli`] (main.rs dispatches on the first argument) so that neither
/// `--help`, the man pages nor the completions it writes offer it.
#[derive(Debug, Parser)]
#[command(
    name = "roster generate",
    about = "Write man pages or shell completions (for packagers)"
)]
pub struct GenerateCli {
    #[command(subcommand)]
    pub what: GenerateCommand,
}

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Write roster.1 and one roster-….1 per subcommand into DIR.
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write roster.bash, _roster (zsh) and roster.fish into DIR.
    Completions {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a new password comes from. At most one; none means "ask on the
/// terminal, twice", or an error when there is no terminal.
#[derive(Debug, Args)]
#[group(id = "new_password", multiple = false)]
pub struct NewPasswordArgs {
    /// The new password (visible to other users in the process list: prefer
    /// --password-stdin).
    #[arg(long, value_name = "PASSWORD")]
    pub set_password: Option<String>,
    /// Read the new password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The display name (no ':', newlines or control characters).
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    /// The login shell (an absolute path).
    #[arg(long, value_name = "SHELL")]
    pub shell: Option<String>,
    /// The home folder (an absolute path).
    #[arg(long, value_name = "HOME")]
    pub home: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user (prompts for what is missing, on a terminal only).
    #[command(group(ArgGroup::new("credential").multiple(false).args(["set_password", "password_stdin", "register"])))]
    Create {
        /// The login name (asked for on a terminal when missing).
        username: Option<String>,
        /// The password (visible to other users in the process list: prefer
        /// --password-stdin).
        #[arg(long, value_name = "PASSWORD")]
        set_password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Create the user pending, with a registration code instead of a
        /// password.
        #[arg(long)]
        register: bool,
        /// The user's role (default: user).
        #[arg(long, value_name = "ROLE", value_parser = wire_value::<Role>(Role::WORDS))]
        set_role: Option<Role>,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Change a user's role, profile or password (the role first).
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["set_password", "password_stdin", "set_role", "display_name", "shell", "home"])))]
    Edit {
        username: String,
        #[command(flatten)]
        password: NewPasswordArgs,
        /// The new role.
        #[arg(long, value_name = "ROLE", value_parser = wire_value::<Role>(Role::WORDS))]
        set_role: Option<Role>,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Change a password (your own without USERNAME), or issue a new
    /// registration code with --reset.
    ///
    /// For your own password the current one is asked for first; with
    /// --password-stdin the first line is the current password and the
    /// second the new one.
    Password {
        username: Option<String>,
        /// Read the password(s) from standard input, one per line.
        #[arg(long, conflicts_with = "reset")]
        password_stdin: bool,
        /// Make the user pending again with a new registration code (the old
        /// code and the user's tokens stop working).
        #[arg(long)]
        reset: bool,
    },
    /// Delete a user for good (asks for confirmation unless --yes).
    Delete {
        username: String,
        /// Leave the user's live sessions running.
        #[arg(long)]
        keep_sessions: bool,
        /// Don't ask for confirmation (needed with no terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Raise a user to LEVEL in an environment (grants only add).
    Grant {
        username: String,
        #[arg(value_parser = wire_value::<Level>(Level::WORDS))]
        level: Level,
        /// The environment (default: this host's).
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
    },
    /// Take LEVEL and everything above it away (everything, without LEVEL).
    Revoke {
        username: String,
        #[arg(value_parser = wire_value::<Level>(Level::WORDS))]
        level: Option<Level>,
        /// The environment (default: this host's).
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
        /// End the user's live sessions (they keep an admin group until they end).
        #[arg(long)]
        end_sessions: bool,
    },
    /// Refuse a user's logins and void their tokens; ends their sessions.
    Suspend {
        username: String,
        /// Leave the user's live sessions running.
        #[arg(long)]
        keep_sessions: bool,
    },
    /// Let a suspended user log in again.
    Enable { username: String },
    /// Clear a user's lockout after failed logins.
    Unlock { username: String },
    /// List sessions (live ones, or all with --all).
    Sessions {
        /// Only this user's sessions.
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        /// Include ended sessions.
        #[arg(long, conflicts_with = "fleet")]
        all: bool,
        /// Every host's live sessions, as each last reported them to the
        /// controller (enrolled hosts).
        #[arg(long)]
        fleet: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List users (suspended ones only with --all).
    List {
        /// Include suspended users (marked).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show one user's details and grants.
    Show {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Manage a user's SSH public keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Bring this host's own human accounts into Roster (root; standalone
    /// hosts: a fleet adopts with `roster hosts join --adopt`). Try
    /// --dry-run first.
    Import(Box<ImportArgs>),
}

/// `roster users import`: where the accounts come from, which ones, at
/// what level, and what happens to their files.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("choice").required(true).args(["users", "all_human", "undo"])))]
pub struct ImportArgs {
    /// Import these local users (comma-separated).
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub users: Vec<String>,
    /// Import every human account (uid within login.defs' UID_MIN–UID_MAX,
    /// a real shell); system accounts and root never.
    #[arg(long)]
    pub all_human: bool,
    /// The level each imported user gets in this host's environment
    /// (always said: status, read, write or admin).
    #[arg(long, value_name = "LEVEL", value_parser = wire_value::<Level>(Level::WORDS))]
    pub level: Option<Level>,
    /// The level for users in sudo, wheel or admin (required when any is
    /// imported: it applies to every host of the environment).
    #[arg(long, value_name = "LEVEL", value_parser = wire_value::<Level>(Level::WORDS))]
    pub sudoers_level: Option<Level>,
    /// Import local user OLD as NEW (for names Roster refuses); repeatable.
    #[arg(long, value_name = "OLD=NEW")]
    pub rename: Vec<String>,
    /// Read the host's files under DIR (DIR/etc/passwd, …) instead of /.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["csv", "json_file"])]
    pub root: Option<PathBuf>,
    /// The passwd file (default /etc/passwd, or under --root).
    #[arg(long, value_name = "FILE")]
    pub passwd: Option<PathBuf>,
    /// The shadow file (default /etc/shadow, or under --root).
    #[arg(long, value_name = "FILE")]
    pub shadow: Option<PathBuf>,
    /// The group file (default /etc/group, or under --root).
    #[arg(long, value_name = "FILE")]
    pub group: Option<PathBuf>,
    /// The gshadow file (default /etc/gshadow when it exists, or under --root).
    #[arg(long, value_name = "FILE")]
    pub gshadow: Option<PathBuf>,
    /// login.defs, for UID_MIN–UID_MAX (default /etc/login.defs, or under --root).
    #[arg(long, value_name = "FILE")]
    pub login_defs: Option<PathBuf>,
    /// Read the accounts from a CSV file instead (header: name,
    /// display_name, uid, home, shell, hash, level, ssh_keys); nothing
    /// local is removed or chowned.
    #[arg(long, value_name = "FILE", conflicts_with = "json_file")]
    pub csv: Option<PathBuf>,
    /// Read the accounts from a JSON array of objects with the CSV's columns.
    #[arg(long = "json-file", value_name = "FILE")]
    pub json_file: Option<PathBuf>,
    /// Don't issue registration codes to users imported pending (`*` or
    /// empty hashes): reset them later with `roster users password --reset`.
    #[arg(long)]
    pub no_codes: bool,
    /// Leave the homes' ownership as it is (default: chown them to the new uids).
    #[arg(long)]
    pub no_chown: bool,
    /// Also move ownership under these trees to the new uids.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub chown_paths: Vec<PathBuf>,
    /// Skip invalid records (each listed) instead of refusing the whole input.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Remove the last local account able to use sudo anyway.
    #[arg(long)]
    pub force: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the dated backup of the local files goes (default
    /// /var/backups, or under --root).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Undo an import from its backup folder: removed entries merged back,
    /// homes chowned back, unchanged imported users deleted.
    #[arg(long, value_name = "BACKUP")]
    pub undo: Option<PathBuf>,
    /// A JSON line per user instead of a progress bar, and a JSON summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a public key (`type base64 [comment]`), given as arguments or in a file.
    #[command(group(ArgGroup::new("source").required(true).args(["key", "file"])))]
    Add {
        username: String,
        /// The key line; several words are joined with spaces.
        #[arg(num_args = 1.., value_name = "KEY")]
        key: Vec<String>,
        /// Read the key(s) from FILE, one per line ('-' = standard input).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List a user's keys with their SHA256 fingerprints.
    List {
        username: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove a key by its fingerprint (`SHA256:…`).
    Remove {
        username: String,
        fingerprint: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Join this host to the controller at URL (root).
    ///
    /// The join token (from `roster-controller token create`) is never
    /// taken on the command line: it is asked for without echo, or read
    /// from standard input with --token-stdin. rosterd makes this host's
    /// key (it never leaves the host), enrolls, takes the first full sync
    /// and from then on serves the fleet's users. Where systemd runs
    /// rosterd, the fleet drop-in (network for rosterd, nothing else) is
    /// linked in and rosterd restarted first.
    #[command(group(ArgGroup::new("own_users").args(["adopt", "discard"])))]
    Join {
        /// The controller, e.g. https://controller.example:8443
        url: String,
        /// The fleet CA's fingerprint, as `roster-controller init` printed it.
        #[arg(long, value_name = "SHA256:…")]
        ca_fingerprint: String,
        /// The name to enroll under (default: this machine's hostname).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Read the join token from the first line of standard input.
        #[arg(long)]
        token_stdin: bool,
        /// Move the Roster users this host has of its own to the controller,
        /// with their uids, password hashes, keys and grants in this host's
        /// environment; a name or uid the fleet has already refuses the
        /// join, naming each, and nothing changes.
        #[arg(long)]
        adopt: bool,
        /// Drop the Roster users this host has of its own: their uids join
        /// the fleet's retired list (never handed out again, so nobody
        /// inherits their files here).
        #[arg(long)]
        discard: bool,
    },
    /// Where this host stands with its controller: controller, cursor, last
    /// answer, offline grace left, certificate expiry.
    Status(JsonFlag),
    /// Return to standalone, keeping the current cache as this host's store (root).
    Leave,
    /// Join tokens for new hosts (fleet admins, through the controller).
    #[command(subcommand)]
    Token(HostsTokenCommand),
    /// List the fleet's hosts (fleet admins, through the controller).
    List {
        /// Only this environment's hosts.
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Revoke a host: refused at its next request, its cached credentials
    /// wiped (fleet admins, through the controller).
    Revoke { host: String },
}

#[derive(Debug, Subcommand)]
pub enum HostsTokenCommand {
    /// Create a join token for ENV's next host; it is printed once.
    Create {
        /// The environment the host joins.
        #[arg(long, value_name = "ENV")]
        environment: String,
        /// How long it may be used (`30m`, `1h`, `2d`; at most 7d; default 1h).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Read your password from standard input (a `roster login`
        /// session makes no lasting credential such as a join token).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List join tokens (never their secrets).
    List(JsonFlag),
    /// Delete a join token by its id.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum EnvironmentsCommand {
    /// Add an environment.
    Add { name: String },
    /// List environments.
    List(JsonFlag),
    /// Remove an environment (refused while grants name it, unless --force).
    Remove {
        name: String,
        /// Drop the grants that name it too.
        #[arg(long)]
        force: bool,
    },
    /// Set an environment's fleet settings: login_level=…, offline_grace=…,
    /// host_root_is_admin=… (enrolled hosts; fleet admins).
    Set {
        name: String,
        /// KEY=VALUE settings.
        #[arg(required = true, num_args = 1.., value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for yourself; it is printed once.
    Create {
        /// A name to recognise it by.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// What it may do: only read (default) or everything you may.
        #[arg(long, default_value_t = Scope::ReadOnly, value_parser = wire_value::<Scope>(Scope::WORDS))]
        scope: Scope,
        /// Stop working after this long (`30m`, `12h`, `90d`); default never.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<u64>,
        /// Read your password from standard input (enrolled hosts: a
        /// `roster login` session makes no lasting credential such as a token).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List tokens (yours, or USERNAME's for root and admins).
    List {
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Rename a token.
    Rename { id: String, name: String },
    /// Delete a token (yours, or USERNAME's for root and admins).
    Delete {
        id: String,
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
    },
}

/// A closed set of roster-client's (role, level, scope), parsed by the
/// client's own `FromStr`: the CLI takes exactly the words rosterd does,
/// and `--help` lists them.
fn wire_value<T>(words: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = UnknownValue> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(words).try_map(|word| word.parse::<T>())
}

/// A duration as the config writes them: a number and one unit of `s`,
/// `m`, `h`, `d` (`30s`, `15m`, `72h`, `7d`), in seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    match roster_hostconfig::parse_duration(text).map(|d| d.as_secs()) {
        Ok(0) => Err(format!("\"{text}\" is zero: a token must live a while")),
        Ok(seconds) => Ok(seconds),
        Err(e) => Err(e.to_string()),
    }
}

/// `roster secrets …` (DESIGN.md "Secrets"). A secret is named `NAME`
/// (your own), `OWNER/NAME` (a user's or an environment's) or by its id.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Add a secret (revision 1). Values: KEY=@FILE reads a file, KEY=- reads
    /// standard input, KEY=VALUE takes it from the command line (with a
    /// warning: other users can read the command line).
    Add {
        name: String,
        /// KEY=VALUE, KEY=@FILE or KEY=- (keys: a lowercase letter, then
        /// two or more lowercase letters, digits or '-').
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        /// A file of KEY=VALUE lines, or a JSON object of strings.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// never, hourly, daily, weekly, monthly, quarterly or yearly.
        #[arg(long, value_name = "POLICY")]
        rotate: Option<String>,
        /// When this revision expires: a duration (30d) or a UTC time
        /// (2027-01-31T12:00:00Z).
        #[arg(long, value_name = "WHEN")]
        expire: Option<String>,
        /// Make it a secret of ENV (its admins manage it, its write holders read it).
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
    },
    /// Publish a new revision (the values given are the whole new content)
    /// or change the description, rotation or expiry.
    Update {
        name: String,
        #[arg(value_name = "KEY=VALUE")]
        values: Vec<String>,
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        #[arg(long, value_name = "POLICY")]
        rotate: Option<String>,
        #[arg(long, value_name = "WHEN")]
        expire: Option<String>,
    },
    /// Remove a secret, or one of its revisions.
    Remove {
        name: String,
        #[arg(long, value_name = "N")]
        revision: Option<u32>,
    },
    /// Share a secret with USER.
    Grant {
        name: String,
        user: String,
        /// view (read it) or manage (also update, share, remove).
        #[arg(long, default_value = "view", value_parser = PossibleValuesParser::new(["view", "manage"]))]
        role: String,
    },
    /// Stop sharing a secret with USER, at once.
    Revoke { name: String, user: String },
    /// List the secrets you may see (metadata only).
    List {
        #[arg(long, value_name = "USER", conflicts_with = "environment")]
        owner: Option<String>,
        #[arg(long, value_name = "ENV")]
        environment: Option<String>,
        /// Show each secret's revisions too.
        #[arg(long)]
        revisions: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show a secret's metadata; --reveal prints its content.
    Show {
        name: String,
        /// Print the content (of the revision you track, or --revision N).
        #[arg(long)]
        reveal: bool,
        #[arg(long, value_name = "N")]
        revision: Option<u32>,
        /// List every revision (managers).
        #[arg(long)]
        revisions: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print one value raw (or every key with --json): the revision you track;
    /// your first read pins the latest.
    Get {
        name: String,
        key: Option<String>,
        /// Read the latest revision without moving to it.
        #[arg(long, conflicts_with = "refresh")]
        peek: bool,
        /// Move to the latest revision and read it.
        #[arg(long)]
        refresh: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print the signals of the secrets you may see (or of NAME), one line
    /// each, until interrupted.
    Watch {
        name: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Re-wrap every secret under a new key (root).
    Rekey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("roster").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn create_takes_every_documented_flag() {
        let cli = parse(&[
            "users",
            "create",
            "bob",
            "--password-stdin",
            "--set-role",
            "admin",
            "--display-name",
            "Bob B",
            "--shell",
            "/bin/zsh",
            "--home",
            "/srv/bob",
        ])
        .expect("parses");
        match cli.command {
            Command::Users(UsersCommand::Create {
                username,
                password_stdin,
                set_role,
                profile,
                ..
            }) => {
                assert_eq!(username.as_deref(), Some("bob"));
                assert!(password_stdin);
                assert_eq!(set_role, Some(Role::Admin));
                assert_eq!(profile.display_name.as_deref(), Some("Bob B"));
                assert_eq!(profile.shell.as_deref(), Some("/bin/zsh"));
                assert_eq!(profile.home.as_deref(), Some("/srv/bob"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn create_password_sources_exclude_each_other() {
        for pair in [
            ["--set-password=x", "--password-stdin"],
            ["--set-password=x", "--register"],
            ["--password-stdin", "--register"],
        ] {
            let err = parse(&["users", "create", "bob", pair[0], pair[1]]).expect_err("conflict");
            assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{pair:?}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn create_without_username_parses_for_the_prompt() {
        let cli = parse(&["users", "create"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Users(UsersCommand::Create { username: None, .. })
        ));
    }

    #[test]
    fn unknown_role_and_level_are_usage_errors() {
        let err = parse(&["users", "create", "bob", "--set-role", "root"]).expect_err("bad role");
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["users", "grant", "bob", "superuser"]).expect_err("bad level");
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        let err = parse(&["users", "revoke", "bob", "owner"]).expect_err("bad level");
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
    }

    #[test]
    fn edit_needs_something_to_change() {
        let err = parse(&["users", "edit", "bob"]).expect_err("nothing to change");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(parse(&["users", "edit", "bob", "--set-role", "user"]).is_ok());
        assert!(
            parse(&[
                "users",
                "edit",
                "bob",
                "--password-stdin",
                "--set-role",
                "admin"
            ])
            .is_ok()
        );
        let err = parse(&[
            "users",
            "edit",
            "bob",
            "--password-stdin",
            "--set-password",
            "x",
        ])
        .expect_err("two password sources");
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn grant_and_revoke_take_levels_and_environment() {
        let cli =
            parse(&["users", "grant", "bob", "write", "--environment", "staging"]).expect("parses");
        match cli.command {
            Command::Users(UsersCommand::Grant {
                username,
                level,
                environment,
            }) => {
                assert_eq!(username, "bob");
                assert_eq!(level, Level::Write);
                assert_eq!(environment.as_deref(), Some("staging"));
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = parse(&["users", "revoke", "bob", "--end-sessions"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Users(UsersCommand::Revoke {
                level: None,
                end_sessions: true,
                ..
            })
        ));
        assert!(parse(&["users", "grant", "bob"]).is_err());
    }

    #[test]
    fn password_reset_excludes_stdin() {
        assert!(parse(&["users", "password", "bob", "--reset"]).is_ok());
        assert!(parse(&["users", "password"]).is_ok());
        let err = parse(&["users", "password", "bob", "--reset", "--password-stdin"])
            .expect_err("conflict");
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn read_commands_take_json() {
        for args in [
            &["users", "list", "--json"][..],
            &["users", "list", "--all", "--json"],
            &["users", "show", "bob", "--json"],
            &["users", "sessions", "--json", "--all", "--user", "bob"],
            &["users", "keys", "list", "bob", "--json"],
            &["environments", "list", "--json"],
            &["whoami", "--json"],
            &["tokens", "list", "--json"],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn register_takes_no_code_argument() {
        assert!(parse(&["register"]).is_ok());
        assert!(parse(&["register", "--stdin"]).is_ok());
        let err = parse(&["register", "ABCD-EFGH"]).expect_err("a code on argv");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn token_file_is_global() {
        let cli = parse(&["users", "list", "--token-file", "/tmp/t"]).expect("parses");
        assert_eq!(
            cli.token_file.as_deref(),
            Some(std::path::Path::new("/tmp/t"))
        );
        let cli = parse(&["--token-file", "/tmp/t", "whoami"]).expect("parses");
        assert!(cli.token_file.is_some());
    }

    #[test]
    fn tokens_create_defaults_to_read_only() {
        let cli = parse(&["tokens", "create"]).expect("parses");
        match cli.command {
            Command::Tokens(TokensCommand::Create {
                scope,
                expires,
                name,
                password_stdin,
            }) => {
                assert_eq!(scope, Scope::ReadOnly);
                assert_eq!(expires, None);
                assert_eq!(name, None);
                assert!(!password_stdin);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli =
            parse(&["tokens", "create", "--scope", "full", "--expires", "7d"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Tokens(TokensCommand::Create {
                scope: Scope::Full,
                expires: Some(604_800),
                ..
            })
        ));
        assert!(parse(&["tokens", "create", "--scope", "admin"]).is_err());
    }

    #[test]
    fn keys_add_takes_words_or_a_file() {
        let cli = parse(&[
            "users",
            "keys",
            "add",
            "bob",
            "ssh-ed25519",
            "AAAA",
            "bob@host",
        ])
        .expect("parses");
        match cli.command {
            Command::Users(UsersCommand::Keys(KeysCommand::Add { key, file, .. })) => {
                assert_eq!(key, ["ssh-ed25519", "AAAA", "bob@host"]);
                assert!(file.is_none());
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parse(&["users", "keys", "add", "bob", "--file", "k.pub"]).is_ok());
        assert!(parse(&["users", "keys", "add", "bob"]).is_err());
        assert!(parse(&["users", "keys", "add", "bob", "k", "--file", "k.pub"]).is_err());
    }

    #[test]
    fn durations_parse_like_the_config() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("72h"), Ok(259_200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        for bad in [
            "",
            "7",
            "d",
            "7w",
            "-1d",
            "1.5h",
            "0m",
            "99999999999999999999d",
            "7d ",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
