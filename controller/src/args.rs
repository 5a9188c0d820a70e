//! The command line: DESIGN.md's commands for root on the controller
//! machine. Secrets never travel on argv: the first admin's password is
//! asked on the terminal or read from stdin, join tokens are printed.

use clap::{CommandFactory, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "roster-controller",
    version,
    about = "Roster's controller: the fleet's store on PostgreSQL, served to enrolled hosts over mutual TLS"
)]
pub struct Args {
    /// The controller's config.
    #[arg(long, global = true, default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// Check the config (and that the files it names are usable) and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Write roster-controller.8 into DIR and exit (for scripts/package.sh).
    #[arg(long, value_name = "DIR", hide = true)]
    pub generate_man: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the store's schema and epoch, the CA and this replica's
    /// server certificate, and the first admin (no host needed).
    Init(InitArgs),
    /// Serve enrolled hosts (HTTPS, mutual TLS) and /metrics.
    Serve,
    /// Join tokens: what a host presents once to enroll.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled hosts.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Environment settings the controller decides for its hosts.
    #[command(subcommand)]
    Environments(EnvironmentsCommand),
    /// After restoring the store from a backup: a new epoch (every host
    /// resyncs in full) and the audit entries since the backup's time.
    Restore(RestoreArgs),
    /// Certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// The key that seals the fleet's secrets (`secrets_key_file`).
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored secret under a new key, in one transaction (the
    /// key file holds old and new keys until it commits). Copy the file
    /// to every other replica afterwards.
    Rekey,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The first admin's Roster name (role admin).
    #[arg(long, required_unless_present = "replica")]
    pub admin: Option<String>,
    /// Read the first admin's password from stdin instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// A further replica of an initialized store: copy the CA from this
    /// key file (its certificates beside it) and make this replica's
    /// server certificate only.
    #[arg(long, requires = "ca_key")]
    pub replica: bool,
    /// The CA's key, copied from the first controller (with --replica).
    #[arg(long)]
    pub ca_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a join token for a host of ENVIRONMENT, printed once.
    Create {
        #[arg(long)]
        environment: String,
        /// How long it may be used: 1h, 2d … (at most 7d).
        #[arg(long, default_value = "1h")]
        expires: String,
    },
    /// Join tokens not yet used, with their environment and expiry.
    List,
    /// Void a join token by its id.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Name, environment, last seen, cursor lag, certificate expiry.
    List {
        #[arg(long)]
        environment: Option<String>,
    },
    /// Refuse the host at its next request; it wipes its cached
    /// credentials when told.
    Revoke { host: String },
}

#[derive(Debug, Subcommand)]
pub enum EnvironmentsCommand {
    /// Set login_level=…, offline_grace=…, host_root_is_admin=… for E.
    Set {
        environment: String,
        /// KEY=VALUE pairs.
        #[arg(required = true)]
        settings: Vec<String>,
    },
    /// Every environment with its settings.
    List,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// When the backup was taken (RFC 3339 or seconds since the epoch):
    /// the audit entries since then are printed for re-applying.
    #[arg(long)]
    pub backup_time: String,
    /// A file holding the connection string of the store as it was before
    /// the restore, if it can still be read: the changes it has that the
    /// restored store lacks are printed (what the restore undid). A file,
    /// not an argument, so its password never shows in `ps`.
    #[arg(long, value_name = "FILE")]
    pub previous_store: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Make a new CA beside the current one: it signs from now on, the
    /// old one stays trusted until no host depends on it.
    Rotate,
    /// The CA fingerprint hosts pin (`roster hosts join --ca-fingerprint`).
    Fingerprint,
}

/// Writes roster-controller.8 into `dir` (created if missing); the path
/// written.
pub fn write_man_page(dir: &Path) -> Result<PathBuf, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::Man::new(Args::command())
        .section("8")
        .generate_to(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_names_every_command() {
        let dir = tempfile::tempdir().unwrap();
        let page = write_man_page(dir.path()).unwrap();
        assert_eq!(page.file_name().unwrap(), "roster-controller.8");
        let text = std::fs::read_to_string(page).unwrap();
        for command in ["init", "serve", "token", "hosts", "environments", "restore"] {
            assert!(text.contains(command), "{command}");
        }
    }
}
