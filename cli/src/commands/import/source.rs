//! Reading the accounts to import: the host's passwd/shadow/group (with
//! line numbers, for the "refused at line N" message), or a CSV/JSON list.
//! Nothing here decides a Roster rule: rosterd checks each record again.

use roster_client::Level;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One account read from a source, before selection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Where it came from ("passwd line 7", "CSV row 3").
    pub origin: String,
    /// Its local name.
    pub local_name: String,
    pub display_name: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: String,
    pub shell: String,
    /// The shadow field as it is (`!` and all); None: no shadow entry.
    pub shadow: Option<String>,
    /// A level given per account (CSV/JSON only).
    pub level: Option<Level>,
    pub ssh_keys: Vec<String>,
    /// The problem that makes this record invalid, if any.
    pub invalid: Option<String>,
}

/// One line of the group file, kept whole for rewriting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLine {
    pub name: String,
    pub gid: Option<u32>,
    pub members: Vec<String>,
}

/// Where the host's files are.
#[derive(Clone, Debug)]
pub struct HostPaths {
    pub root: PathBuf,
    pub passwd: PathBuf,
    pub shadow: PathBuf,
    pub group: PathBuf,
    pub gshadow: PathBuf,
    pub login_defs: PathBuf,
}

/// What a shadow field means for the import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashField {
    /// A usable crypt hash: imported active.
    Usable(String),
    /// `!` before a hash: imported suspended with it.
    Locked(String),
    /// `*`, `!`, `!!` or empty: imported pending.
    None,
}

/// The crypt schemes Roster adopts, by prefix (rosterd checks again).
pub fn scheme(hash: &str) -> Option<&'static str> {
    [
        ("$y$", "yescrypt"),
        ("$6$", "sha512-crypt"),
        ("$5$", "sha256-crypt"),
        ("$2b$", "bcrypt"),
        ("$2a$", "bcrypt"),
        ("$2y$", "bcrypt"),
        ("$1$", "md5-crypt"),
    ]
    .iter()
    .find(|(prefix, _)| hash.starts_with(prefix))
    .map(|(_, name)| *name)
}

/// The shadow field's meaning, or why it can't be imported.
pub fn hash_field(field: &str) -> Result<HashField, String> {
    let (locked, hash) = match field.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start_matches('!')),
        None => (false, field),
    };
    if hash.is_empty() || hash == "*" || hash.starts_with('*') {
        return Ok(HashField::None);
    }
    if scheme(hash).is_none() {
        return Err(
            "its password hash is of a scheme Roster doesn't adopt (yescrypt, sha512-crypt, \
             sha256-crypt, bcrypt and md5-crypt are): set a new password with passwd first"
                .into(),
        );
    }
    Ok(if locked {
        HashField::Locked(hash.to_owned())
    } else {
        HashField::Usable(hash.to_owned())
    })
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("can't read {}: {e}", path.display()))
}

/// Comments, blank lines and NIS compat lines name no local account.
fn skipped(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t.starts_with('+') || t.starts_with('-')
}

/// The passwd file's accounts (with the shadow fields joined in).
pub fn host_accounts(paths: &HostPaths) -> Result<Vec<Account>, String> {
    let passwd = read(&paths.passwd)?;
    let shadow = read(&paths.shadow)?;
    let mut hashes: BTreeMap<&str, &str> = BTreeMap::new();
    for line in shadow.lines().filter(|l| !skipped(l)) {
        let mut fields = line.split(':');
        if let (Some(name), Some(hash)) = (fields.next(), fields.next()) {
            hashes.insert(name, hash);
        }
    }
    let mut out = Vec::new();
    for (n, line) in passwd.lines().enumerate() {
        if skipped(line) {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let mut account = Account {
            origin: format!("{} line {}", paths.passwd.display(), n + 1),
            local_name: field(0).to_owned(),
            display_name: field(4).split(',').next().unwrap_or("").to_owned(),
            uid: field(2).parse().ok(),
            gid: field(3).parse().ok(),
            home: field(5).to_owned(),
            shell: field(6).to_owned(),
            shadow: hashes.get(field(0)).map(|h| (*h).to_owned()),
            ..Account::default()
        };
        if fields.len() != 7 {
            account.invalid = Some(format!("{} fields, not 7", fields.len()));
        } else if account.uid.is_none() || account.gid.is_none() {
            account.invalid = Some("the uid or gid is not a number".into());
        }
        out.push(account);
    }
    Ok(out)
}

/// The group file's lines.
pub fn groups(path: &Path) -> Result<Vec<GroupLine>, String> {
    let text = read(path)?;
    Ok(text
        .lines()
        .filter(|l| !skipped(l))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let name = fields.first().copied().unwrap_or("");
            (!name.is_empty()).then(|| GroupLine {
                name: name.to_owned(),
                gid: fields.get(2).and_then(|g| g.parse().ok()),
                members: fields
                    .get(3)
                    .copied()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        })
        .collect())
}

/// The CSV's and the JSON list's columns.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedAccount {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub uid: Option<u32>,
    pub home: String,
    pub shell: String,
    /// A crypt hash (`!` before it: suspended), or empty/`*`: pending.
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub ssh_keys: Vec<String>,
}

fn listed(origin: String, l: ListedAccount) -> Account {
    let mut account = Account {
        origin,
        local_name: l.name,
        display_name: l.display_name,
        uid: l.uid,
        gid: None,
        home: l.home,
        shell: l.shell,
        shadow: Some(l.hash),
        level: None,
        ssh_keys: l.ssh_keys,
        invalid: None,
    };
    if let Some(level) = l.level.filter(|l| !l.is_empty()) {
        match level.parse::<Level>() {
            Ok(level) => account.level = Some(level),
            Err(_) => account.invalid = Some(format!("unknown level {level:?}")),
        }
    }
    account
}

/// A JSON array of [`ListedAccount`] objects.
pub fn json_accounts(path: &Path) -> Result<Vec<Account>, String> {
    let text = read(path)?;
    let values: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a JSON array of accounts: {e}", path.display()))?;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let origin = format!("{} item {}", path.display(), i + 1);
            match serde_json::from_value::<ListedAccount>(value) {
                Ok(l) => listed(origin, l),
                Err(e) => Account {
                    origin,
                    invalid: Some(e.to_string()),
                    ..Account::default()
                },
            }
        })
        .collect())
}

/// A CSV with a header row naming [`ListedAccount`]'s columns (any order;
/// `ssh_keys` holds keys one per line inside a quoted field).
pub fn csv_accounts(path: &Path) -> Result<Vec<Account>, String> {
    let text = read(path)?;
    let mut rows = csv_rows(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (_, header) = rows.remove(0);
    let known = [
        "name",
        "display_name",
        "uid",
        "home",
        "shell",
        "hash",
        "level",
        "ssh_keys",
    ];
    if let Some(unknown) = header.iter().find(|h| !known.contains(&h.as_str())) {
        return Err(format!(
            "{}: unknown column {unknown:?} (the columns are {})",
            path.display(),
            known.join(", ")
        ));
    }
    Ok(rows
        .into_iter()
        .map(|(line, row)| {
            let origin = format!("{} line {line}", path.display());
            let get = |col: &str| {
                header
                    .iter()
                    .position(|h| h == col)
                    .and_then(|i| row.get(i))
                    .cloned()
                    .unwrap_or_default()
            };
            if row.len() != header.len() {
                return Account {
                    origin,
                    invalid: Some(format!(
                        "{} fields, the header has {}",
                        row.len(),
                        header.len()
                    )),
                    ..Account::default()
                };
            }
            let uid = get("uid");
            let mut account = listed(
                origin,
                ListedAccount {
                    name: get("name"),
                    display_name: get("display_name"),
                    uid: uid.parse().ok(),
                    home: get("home"),
                    shell: get("shell"),
                    hash: get("hash"),
                    level: Some(get("level")),
                    ssh_keys: get("ssh_keys").lines().map(str::to_owned).collect(),
                },
            );
            if !uid.is_empty() && account.uid.is_none() && account.invalid.is_none() {
                account.invalid = Some(format!("the uid {uid:?} is not a number"));
            }
            account
        })
        .collect())
}

/// RFC 4180 rows with the line each starts on: `"` quotes, `""` escapes.
fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut line, mut start) = (false, 1usize, 1usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row.first().is_some_and(String::is_empty)) {
                    rows.push((start, std::mem::take(&mut row)));
                }
                row.clear();
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!(
            "a quoted field starting on line {start} never ends"
        ));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push((start, row));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_fields_mean_what_the_design_says() {
        assert_eq!(
            hash_field("$y$j9T$a$b"),
            Ok(HashField::Usable("$y$j9T$a$b".into()))
        );
        assert_eq!(
            hash_field("!$6$s$h"),
            Ok(HashField::Locked("$6$s$h".into()))
        );
        for none in ["", "*", "!", "!!", "!*", "*LK*"] {
            assert_eq!(hash_field(none), Ok(HashField::None), "{none}");
        }
        assert!(hash_field("abDESDESDESDE").is_err());
    }

    #[test]
    fn csv_rows_with_quotes_and_embedded_newlines() {
        let rows = csv_rows("name,ssh_keys\nbob,\"k1\nk2\"\n\"a,\"\"b\",x\n").unwrap();
        assert_eq!(rows[0], (1, vec!["name".into(), "ssh_keys".into()]));
        assert_eq!(rows[1], (2, vec!["bob".into(), "k1\nk2".into()]));
        assert_eq!(rows[2], (4, vec!["a,\"b".into(), "x".into()]));
        assert!(csv_rows("a,\"b\n").is_err());
    }
}
