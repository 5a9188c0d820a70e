//! `roster-controller init`: the store's schema and epoch, the CA, this
//! replica's server certificate and the first admin, so a fleet
//! bootstraps with no host. `init --replica --ca-key F`: a further
//! replica of a store already initialized (the CA copied, its own server
//! certificate).

use super::now;
use crate::args::InitArgs;
use crate::config::ControllerConfig;
use crate::error::Fail;
use crate::pki::{CA_CERT_FILE, CA_KEY_FILE, Ca, CaBundle};
use crate::store::Store;
use roster_core::flows::PasswordRequest;
use roster_core::model::{NewUser, Role};
use roster_core::password::Hasher;
use roster_core::{Actor, Secret};
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::time::SystemTime;
use zeroize::Zeroizing;

pub fn run(config: &ControllerConfig, args: &InitArgs) -> Result<(), Fail> {
    if config.tls.server_names.is_empty() {
        return Err(Fail::Usage(
            "tls.server_names in the config is empty: name this replica as hosts reach it (a DNS name or an address), so its certificate carries it".into(),
        ));
    }
    if args.replica {
        return replica(config, args);
    }
    let Some(admin) = args.admin.as_deref() else {
        return Err(Fail::Usage(
            "init needs --admin NAME: the first admin".into(),
        ));
    };
    // Everything that can be refused before a write is asked first.
    let password = read_password(args.password_stdin)?;
    let store = Store::open(&config.store.conninfo, config.rules())?;
    if let Some(epoch) = store.with(|s| s.fleet_read(|tx| tx.epoch()))? {
        return Err(Fail::Usage(format!(
            "this store is initialized already (epoch {epoch}): for another replica run `roster-controller init --replica --ca-key FILE`"
        )));
    }
    let bundle = CaBundle::init(&config.tls.ca_dir, "Roster fleet CA", SystemTime::now())
        .map_err(Fail::pki)?;
    write_server_certificate(config, &bundle.signing)?;
    create_first_admin(config, &store, admin, password)?;
    // The epoch last: its presence is what "initialized" means.
    let epoch = store.with(|s| s.fleet_write(|tx| tx.init_epoch(now())))?;
    println!("Initialized the store (epoch {epoch}) with the admin {admin:?}.");
    println!(
        "CA fingerprint (hosts pin it: `roster hosts join URL --ca-fingerprint …`): {}",
        bundle.signing.fingerprint()
    );
    println!(
        "Back up {} with the store: without it no host can renew.",
        config.tls.ca_dir.display()
    );
    Ok(())
}

fn replica(config: &ControllerConfig, args: &InitArgs) -> Result<(), Fail> {
    let Some(key) = args.ca_key.as_deref() else {
        return Err(Fail::Usage("--replica needs --ca-key FILE".into()));
    };
    let store = Store::open(&config.store.conninfo, config.rules())?;
    if store.with(|s| s.fleet_read(|tx| tx.epoch()))?.is_none() {
        return Err(Fail::Usage(
            "the store isn't initialized: run `roster-controller init --admin NAME` on the first controller".into(),
        ));
    }
    let bundle = import_ca(key, &config.tls.ca_dir)?;
    write_server_certificate(config, &bundle.signing)?;
    println!(
        "This replica serves the store with the CA {}.",
        bundle.signing.fingerprint()
    );
    Ok(())
}

/// A replica's copy of the CA: the key given and every certificate
/// beside it (`ca.crt` and the retired ones still trusted), into this
/// replica's CA folder, the key 0600; then loaded as `serve` will.
fn import_ca(key: &Path, ca_dir: &Path) -> Result<CaBundle, Fail> {
    let from = key.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(ca_dir).map_err(Fail::io(format!("{}: creating", ca_dir.display())))?;
    let key_pem = Zeroizing::new(
        std::fs::read(key).map_err(Fail::io(format!("{}: reading the CA key", key.display())))?,
    );
    write_new(&ca_dir.join(CA_KEY_FILE), &key_pem, 0o600)?;
    let entries =
        std::fs::read_dir(from).map_err(Fail::io(format!("{}: listing", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(Fail::io(format!("{}: listing", from.display())))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == CA_CERT_FILE || (name.starts_with("ca-old-") && name.ends_with(".crt")) {
            let pem = std::fs::read(entry.path())
                .map_err(Fail::io(format!("{}: reading", entry.path().display())))?;
            write_new(&ca_dir.join(name), &pem, 0o644)?;
        }
    }
    CaBundle::load(ca_dir).map_err(Fail::pki)
}

fn write_server_certificate(config: &ControllerConfig, ca: &Ca) -> Result<(), Fail> {
    let (key, chain) = ca
        .issue_server_cert(&config.tls.server_names, SystemTime::now())
        .map_err(Fail::pki)?;
    write_new(&config.tls.server_key, key.as_bytes(), 0o600)?;
    write_new(&config.tls.server_cert, chain.as_bytes(), 0o644)?;
    Ok(())
}

/// Create `path` (never over an existing file) with `mode` from the start.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), Fail> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(Fail::io(format!(
            "{}: can't create it (init never overwrites a file: move the old one away)",
            path.display()
        )))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(Fail::io(format!("{}: writing", path.display())))
}

fn read_password(from_stdin: bool) -> Result<Secret, Fail> {
    if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(Fail::io("reading the password from stdin"))?;
        return Ok(Secret::new(line.trim_end_matches(['\r', '\n'])));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Fail::Usage(
            "no terminal to ask the first admin's password on: pass --password-stdin and write it to stdin".into(),
        ));
    }
    let first = Secret::new(
        rpassword::prompt_password("The first admin's password: ")
            .map_err(Fail::io("reading the password"))?,
    );
    let again = Secret::new(
        rpassword::prompt_password("Again: ").map_err(Fail::io("reading the password"))?,
    );
    if first != again {
        return Err(Fail::Usage(
            "the two passwords differ: nothing was changed".into(),
        ));
    }
    Ok(first)
}

/// Core's create flow, as rosterd runs it: plan (every rule), hash, commit.
fn create_first_admin(
    config: &ControllerConfig,
    store: &Store,
    name: &str,
    password: Secret,
) -> Result<(), Fail> {
    let hasher = Hasher::new(&config.argon2)?;
    store.with_roster(|roster| {
        let request = PasswordRequest::create(
            NewUser {
                name: name.to_string(),
                display_name: None,
                role: Some(Role::Admin),
                home: None,
                shell: None,
            },
            password,
        )?;
        let plan = roster.plan_password_change(&Actor::Root, request)?;
        let phc = match plan.password_to_hash(false)? {
            Some(new) => Some(hasher.hash(&new)?),
            None => None,
        };
        roster.commit_password_change(&Actor::Root, plan, false, phc)?;
        Ok(())
    })?;
    Ok(())
}
