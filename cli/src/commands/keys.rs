//! `roster users keys add / list / remove` and `roster ssh-authorized-keys`.

use super::{Ctx, print_json};
use crate::connection::Client;
use crate::errors::CliError;
use crate::output::table::Table;
use crate::output::{json, time};
use roster_client::KeyInfo;
use roster_snapshot::NotHere;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long sshd's AuthorizedKeysCommand may wait on rosterd: a login must
/// never stall on it (PAM's account check still gates the login).
const AUTHORIZED_KEYS_DEADLINE: Duration = Duration::from_secs(2);

/// What to add: the words given, joined, as ONE key line (sent with
/// `Keys.Add`, so a line break inside them is refused, never read as a
/// second key), or a file's whole text (`-` = standard input), sent in
/// one `Keys.AddMany` so that rosterd adds all its keys or, on any bad
/// line, none.
#[derive(Debug, PartialEq)]
enum ToAdd {
    Line(String),
    File(String),
}

fn key_text(words: Vec<String>, file: Option<PathBuf>) -> Result<ToAdd, CliError> {
    let Some(path) = file else {
        return Ok(ToAdd::Line(words.join(" ")));
    };
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Local(format!("can't read keys from standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::Local(format!("can't read {}: {e}", path.display())))?;
    }
    // The same lines rosterd skips, checked here for a local message.
    if !text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#'))
    {
        return Err(CliError::Local(format!("{} holds no key", path.display())));
    }
    // D-Bus strings can't carry NUL.
    if text.contains('\0') {
        return Err(CliError::Local(format!(
            "{} holds a NUL byte; nothing added",
            path.display()
        )));
    }
    Ok(ToAdd::File(text))
}

pub async fn add(
    ctx: &mut Ctx<'_>,
    user: String,
    words: Vec<String>,
    file: Option<PathBuf>,
) -> Result<(), CliError> {
    let to_add = key_text(words, file)?;
    let mut added = add_once(ctx, &user, &to_add).await;
    // On an enrolled host a `roster login` session can't add its own
    // user's key (a lasting credential): the person's password can.
    if let Err(e) = &added
        && super::fleet::wants_password(e)
        && ctx.input.interactive()
    {
        super::fleet::present_password(ctx, false).await?;
        added = add_once(ctx, &user, &to_add).await;
    }
    let added = added?;
    for key in &added {
        println!("Added {} for \"{user}\".", describe(key));
    }
    Ok(())
}

async fn add_once(ctx: &Ctx<'_>, user: &str, to_add: &ToAdd) -> Result<Vec<KeyInfo>, CliError> {
    let keys = ctx.client.keys().await?;
    match to_add {
        ToAdd::Line(line) => keys.add(user, line).await.map(|key| vec![key]),
        ToAdd::File(text) => keys.add_many(user, text).await,
    }
    .map_err(|e| ctx.client.error(e))
}

/// As `ssh-keygen -l` prints a key: `256 SHA256:… comment (ED25519)`.
pub fn describe(key: &KeyInfo) -> String {
    let kind = match key.key_type.as_str() {
        "ssh-ed25519" => "ED25519".to_owned(),
        "ssh-rsa" => "RSA".to_owned(),
        "sk-ssh-ed25519@openssh.com" => "ED25519-SK".to_owned(),
        "sk-ecdsa-sha2-nistp256@openssh.com" => "ECDSA-SK".to_owned(),
        t if t.starts_with("ecdsa-sha2-") => "ECDSA".to_owned(),
        t => t.trim_start_matches("ssh-").to_ascii_uppercase(),
    };
    let comment = if key.comment.is_empty() {
        "no comment"
    } else {
        key.comment.as_str()
    };
    format!("{} {} {comment} ({kind})", key.bits, key.fingerprint)
}

pub async fn list(ctx: &mut Ctx<'_>, user: String, as_json: bool) -> Result<(), CliError> {
    let keys = ctx.client.keys().await?;
    let list = keys.list(&user).await.map_err(|e| ctx.client.error(e))?;
    super::fleet::say_if_stale(ctx).await;
    if as_json {
        let out: Vec<json::Key> = list.iter().map(json::Key::from).collect();
        return print_json(&out);
    }
    print!("{}", render(&list, ctx.now));
    Ok(())
}

pub fn render(keys: &[KeyInfo], now: i64) -> String {
    if keys.is_empty() {
        return "No keys.\n".to_owned();
    }
    let mut table = Table::new(&["Type", "Bits", "Fingerprint", "Comment", "Added"]);
    for k in keys {
        table.row(vec![
            k.key_type.clone(),
            k.bits.to_string(),
            k.fingerprint.clone(),
            k.comment.clone(),
            time::ago(k.added, now),
        ]);
    }
    table.render()
}

pub async fn remove(ctx: &mut Ctx<'_>, user: String, fingerprint: String) -> Result<(), CliError> {
    let keys = ctx.client.keys().await?;
    keys.remove(&user, &fingerprint)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!("Removed key {fingerprint} from \"{user}\".");
    Ok(())
}

/// `roster ssh-authorized-keys USER`: the keys sshd may accept, or nothing.
///
/// Never fails (sshd treats a failing command as "no keys" anyway, and a
/// message on stderr ends up in its log): exit 0 whatever happens.
pub async fn authorized_keys(address: &str, user: &str, snapshot: &Path) {
    // The PAM module's rule ("is this a Roster user here"), with the
    // snapshot read as the modules require (owned by root, written by
    // nobody else: a planted file must not decide whose keys sshd gets).
    let here = roster_snapshot::roster_uid_here(
        user,
        |name| roster_snapshot::lookup_user_uid(snapshot, name, 0),
        passwd_uid,
    );
    match here {
        Ok(_) => {}
        // sshd asks only about names getpwnam resolved; a caller without
        // Roster's NSS module (an admin's check, the tests) still gets the
        // keys of a name the snapshot lists.
        Err(NotHere::Unresolved) => {}
        // A local account shadows the Roster name: its logins must not be
        // opened by the Roster user's keys.
        Err(NotHere::Shadowed) => {
            eprintln!(
                "roster: \"{user}\": {}; no keys",
                NotHere::Shadowed.reason()
            );
            return;
        }
        // Not a Roster user here: answered at once, rosterd is never
        // asked, so local users' key logins don't depend on it.
        Err(NotHere::Root | NotHere::NotListed) => return,
    }
    let lines = match fetch_authorized_keys(address, user).await {
        Ok(lines) => lines,
        Err(error) => {
            eprintln!("{}", error.render(crate::errors::Caller::default()));
            return;
        }
    };
    print!("{}", render_authorized_keys(&lines));
}

async fn fetch_authorized_keys(address: &str, user: &str) -> Result<Vec<String>, CliError> {
    let client = Client::connect(address, Some(AUTHORIZED_KEYS_DEADLINE)).await?;
    let keys = client.keys().await?;
    keys.authorized_keys(user)
        .await
        .map_err(|e| client.error(e))
}

/// One key per line; a line holding a line break or another control
/// character is dropped, so nothing can smuggle a second entry (with its
/// own options) into what sshd reads.
pub fn render_authorized_keys(lines: &[String]) -> String {
    let mut out = String::new();
    for line in lines {
        if line.is_empty() || line.chars().any(|c| c.is_control()) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The uid the host's NSS gives `name` (`getpwnam_r`), or `None`.
fn passwd_uid(name: &str) -> Option<u32> {
    let c_name = std::ffi::CString::new(name).ok()?;
    let mut size = 16 * 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: `pwd` is plain data that getpwnam_r fills; `buf` outlives
        // the call and its length is passed; `result` is only read after.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < 1024 * 1024 {
            size *= 4;
            continue;
        }
        return (rc == 0 && !result.is_null()).then_some(pwd.pw_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyInfo {
        KeyInfo {
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:abc".into(),
            comment: "bob@laptop".into(),
            bits: 256,
            added: 1_800_000_000 - 120,
            line: "ssh-ed25519 AAAA bob@laptop".into(),
        }
    }

    #[test]
    fn keys_are_described_as_ssh_keygen_does() {
        assert_eq!(describe(&key()), "256 SHA256:abc bob@laptop (ED25519)");
        let mut rsa = key();
        rsa.key_type = "ssh-rsa".into();
        rsa.bits = 3072;
        rsa.comment.clear();
        assert_eq!(describe(&rsa), "3072 SHA256:abc no comment (RSA)");
        let mut ecdsa = key();
        ecdsa.key_type = "ecdsa-sha2-nistp384".into();
        ecdsa.bits = 384;
        assert_eq!(describe(&ecdsa), "384 SHA256:abc bob@laptop (ECDSA)");
        let mut sk = key();
        sk.key_type = "sk-ssh-ed25519@openssh.com".into();
        assert_eq!(describe(&sk), "256 SHA256:abc bob@laptop (ED25519-SK)");
    }

    #[test]
    fn the_list_shows_fingerprints() {
        let out = render(&[key()], 1_800_000_000);
        assert!(
            out.contains("ssh-ed25519  256   SHA256:abc   bob@laptop  2 minutes ago"),
            "{out}"
        );
    }

    #[test]
    fn authorized_keys_never_carry_a_second_line() {
        let out = render_authorized_keys(&[
            "ssh-ed25519 AAAA a".into(),
            "ssh-ed25519 BBBB b\ncommand=\"sh\" ssh-ed25519 CCCC".into(),
            String::new(),
        ]);
        assert_eq!(out, "ssh-ed25519 AAAA a\n");
    }

    #[test]
    fn key_words_are_joined_and_files_are_sent_whole() {
        let text =
            key_text(vec!["ssh-ed25519".into(), "AAAA".into(), "me".into()], None).expect("words");
        assert_eq!(text, ToAdd::Line("ssh-ed25519 AAAA me".into()));
        let path = std::env::temp_dir().join(format!("roster-cli-keys-{}", std::process::id()));
        // Sent as it is: rosterd skips the comments and numbers the lines.
        let file = "# mine\n\nssh-ed25519 AAAA a\n  ssh-rsa BBBB b  \n";
        std::fs::write(&path, file).expect("write");
        assert_eq!(
            key_text(vec![], Some(path.clone())).expect("file"),
            ToAdd::File(file.into())
        );
        std::fs::write(&path, "# nothing\n\n").expect("write");
        assert!(key_text(vec![], Some(path.clone())).is_err());
        std::fs::write(&path, "ssh-ed25519 AAAA a\0\n").expect("write");
        assert!(key_text(vec![], Some(path.clone())).is_err());
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[test]
    fn a_name_outside_the_snapshot_gets_nothing_at_once() {
        // No snapshot at all: no Roster users, and rosterd is not asked
        // (the bus address is one nothing listens on).
        let start = std::time::Instant::now();
        zbus::block_on(authorized_keys(
            "unix:path=/nonexistent/roster-test-bus",
            "nobody-here",
            Path::new("/nonexistent/nss.cache"),
        ));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn root_resolves_through_nss() {
        assert_eq!(passwd_uid("root"), Some(0));
        assert_eq!(passwd_uid("no-such-user-here-xyz"), None);
        assert_eq!(passwd_uid("nul\0name"), None);
    }
}
