//! `roster secrets add / update / remove / grant / revoke / list / show /
//! get / watch / rekey` (DESIGN.md "Secrets").
//!
//! Values never have to touch argv: `KEY=@FILE` reads a file, `KEY=-`
//! standard input; a value given inline is taken with a warning (other
//! users can read a command line in /proc). `get` prints one value raw on
//! stdout, nothing else, for scripts. Reads take `--json`.

use super::{Ctx, print_json};
use crate::args::SecretsCommand;
use crate::errors::CliError;
use crate::output::table::{Table, fields};
use crate::output::time;
use roster_client::{SecretEntry, SecretInfo, SecretRequest};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use zbus::export::futures_core::Stream;
use zeroize::Zeroizing;

/// Read at most this much of a value's file or of stdin: one byte past
/// rosterd's limit, so it refuses with its own clear message.
const READ_LIMIT: u64 = (1 << 20) + 1;

pub async fn run(ctx: &mut Ctx<'_>, command: SecretsCommand) -> Result<(), CliError> {
    match command {
        SecretsCommand::Add {
            name,
            values,
            file,
            description,
            rotate,
            expire,
            environment,
        } => {
            let content = content(&values, file.as_deref())?;
            if content.is_empty() {
                return Err(CliError::Usage(
                    "give the secret's content: KEY=@FILE, KEY=- (standard input) or --file FILE"
                        .into(),
                ));
            }
            let request = SecretRequest {
                name: name.clone(),
                environment: environment.unwrap_or_default(),
                description: description.unwrap_or_default(),
                set_description: true,
                rotation: rotate.unwrap_or_default(),
                expire: expire.unwrap_or_default(),
                content,
                set_content: true,
            };
            let proxy = ctx.client.secrets().await?;
            let info = proxy.add(&request).await.map_err(|e| ctx.client.error(e))?;
            println!("Secret {} added ({}), revision 1.", address(&info), info.id);
            Ok(())
        }
        SecretsCommand::Update {
            name,
            values,
            file,
            description,
            rotate,
            expire,
        } => {
            let content = content(&values, file.as_deref())?;
            let set_content = !content.is_empty();
            if !set_content && description.is_none() && rotate.is_none() && expire.is_none() {
                return Err(CliError::Usage(
                    "nothing to update: give new content (KEY=@FILE, KEY=-, --file), --description, --rotate or --expire".into(),
                ));
            }
            let request = SecretRequest {
                set_description: description.is_some(),
                description: description.unwrap_or_default(),
                rotation: rotate.unwrap_or_default(),
                expire: expire.unwrap_or_default(),
                content,
                set_content,
                ..SecretRequest::default()
            };
            let proxy = ctx.client.secrets().await?;
            let updated = proxy
                .update(&name, &request)
                .await
                .map_err(|e| ctx.client.error(e))?;
            let info = &updated.info;
            if updated.new_revision > 0 {
                println!(
                    "Secret {}: revision {} published.",
                    address(info),
                    updated.new_revision
                );
            } else if set_content {
                println!(
                    "Secret {}: the content is identical to revision {}, so no revision was made.",
                    address(info),
                    info.latest
                );
            } else {
                println!("Secret {} updated.", address(info));
            }
            Ok(())
        }
        SecretsCommand::Remove { name, revision } => {
            let proxy = ctx.client.secrets().await?;
            let info = proxy
                .remove(&name, revision.unwrap_or(0))
                .await
                .map_err(|e| ctx.client.error(e))?;
            match revision {
                Some(n) => println!("Revision {n} of secret {} removed.", address(&info)),
                None => println!("Secret {} removed.", address(&info)),
            }
            Ok(())
        }
        SecretsCommand::Grant { name, user, role } => {
            let proxy = ctx.client.secrets().await?;
            let info = proxy
                .grant(&name, &user, &role)
                .await
                .map_err(|e| ctx.client.error(e))?;
            println!(
                "Secret {} is shared with {user:?} ({role}).",
                address(&info)
            );
            Ok(())
        }
        SecretsCommand::Revoke { name, user } => {
            let proxy = ctx.client.secrets().await?;
            let info = proxy
                .revoke(&name, &user)
                .await
                .map_err(|e| ctx.client.error(e))?;
            println!(
                "Secret {} is no longer shared with {user:?}.",
                address(&info)
            );
            Ok(())
        }
        SecretsCommand::List {
            owner,
            environment,
            revisions,
            json,
        } => {
            let proxy = ctx.client.secrets().await?;
            let list = proxy
                .list(
                    owner.as_deref().unwrap_or(""),
                    environment.as_deref().unwrap_or(""),
                )
                .await
                .map_err(|e| ctx.client.error(e))?;
            if json.json {
                let out: Vec<Value> = list.iter().map(|i| info_json(i, revisions)).collect();
                return print_json(&out);
            }
            print!("{}", render_list(&list, revisions, ctx.now));
            Ok(())
        }
        SecretsCommand::Show {
            name,
            reveal,
            revision,
            revisions,
            json,
        } => {
            let proxy = ctx.client.secrets().await?;
            if reveal || revision.is_some() {
                let value = proxy
                    .get(&name, "", revision.unwrap_or(0))
                    .await
                    .map_err(|e| ctx.client.error(e))?;
                if json.json {
                    let mut out = info_json(&value.info, revisions);
                    out["revision"] = json!(value.revision);
                    out["content"] = content_json(&value.content)?;
                    return print_json(&out);
                }
                print!("{}", render_show(&value.info, revisions, ctx.now));
                println!("Content of revision {}:", value.revision);
                let mut out = std::io::stdout().lock();
                for entry in &value.content {
                    let shown = String::from_utf8_lossy(&entry.value);
                    let _ = writeln!(out, "  {}: {}", entry.key, shown);
                }
                return Ok(());
            }
            let info = proxy.show(&name).await.map_err(|e| ctx.client.error(e))?;
            if json.json {
                return print_json(&info_json(&info, revisions));
            }
            print!("{}", render_show(&info, revisions, ctx.now));
            Ok(())
        }
        SecretsCommand::Get {
            name,
            key,
            peek,
            refresh,
            json,
        } => {
            let mode = if peek {
                "peek"
            } else if refresh {
                "refresh"
            } else {
                ""
            };
            let proxy = ctx.client.secrets().await?;
            let value = proxy
                .get(&name, mode, 0)
                .await
                .map_err(|e| ctx.client.error(e))?;
            if json.json {
                let mut out = json!({ "id": value.info.id, "revision": value.revision });
                let entries: Vec<SecretEntry> = value
                    .content
                    .iter()
                    .filter(|e| key.as_ref().is_none_or(|k| &e.key == k))
                    .cloned()
                    .collect();
                out["content"] = content_json(&entries)?;
                return print_json(&out);
            }
            let entry = match (&key, value.content.as_slice()) {
                (Some(key), _) => {
                    value
                        .content
                        .iter()
                        .find(|e| &e.key == key)
                        .ok_or_else(|| {
                            CliError::Local(format!(
                                "secret {} has no key {key:?} in revision {}: it has {}",
                                address(&value.info),
                                value.revision,
                                keys(&value.content)
                            ))
                        })?
                }
                (None, [only]) => only,
                (None, _) => {
                    return Err(CliError::Usage(format!(
                        "secret {} holds several keys ({}): name one, or use --json",
                        address(&value.info),
                        keys(&value.content)
                    )));
                }
            };
            let mut out = std::io::stdout().lock();
            out.write_all(&entry.value)
                .and_then(|()| out.flush())
                .map_err(|e| CliError::Local(format!("can't write the value: {e}")))?;
            Ok(())
        }
        SecretsCommand::Watch { name, json } => watch(ctx, name, json.json).await,
        SecretsCommand::Rekey => {
            let proxy = ctx.client.secrets().await?;
            let (key, count) = proxy.rekey().await.map_err(|e| ctx.client.error(e))?;
            println!(
                "Every secret is now sealed with key {key} ({count} value(s) re-wrapped). \
                 Back up the key file again: the old key opens nothing any more."
            );
            Ok(())
        }
    }
}

/// `OWNER/NAME`, how another user names it.
fn address(info: &SecretInfo) -> String {
    format!("{}/{}", info.owner, info.name)
}

fn keys(content: &[SecretEntry]) -> String {
    content
        .iter()
        .map(|e| e.key.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The content given on the command line and in `--file`, in order; a
/// key given twice is left to rosterd to refuse.
fn content(values: &[String], file: Option<&Path>) -> Result<Vec<SecretEntry>, CliError> {
    let mut out = Vec::new();
    if let Some(path) = file {
        out.extend(from_file(path)?);
    }
    let mut stdin_used = false;
    for item in values {
        let Some((key, value)) = item.split_once('=') else {
            return Err(CliError::Usage(format!(
                "{:?} is not KEY=VALUE, KEY=@FILE or KEY=-",
                item.chars().take(40).collect::<String>()
            )));
        };
        let bytes = if let Some(path) = value.strip_prefix('@') {
            read_limited(
                std::fs::File::open(path)
                    .map_err(|e| CliError::Local(format!("can't read {path}: {e}")))?,
                path,
            )?
        } else if value == "-" {
            if stdin_used {
                return Err(CliError::Usage(
                    "only one value can come from standard input (KEY=-)".into(),
                ));
            }
            stdin_used = true;
            read_limited(std::io::stdin().lock(), "standard input")?
        } else {
            eprintln!(
                "roster: warning: the value of {key:?} was given on the command line, where other users can read it: prefer {key}=@FILE or {key}=-"
            );
            Zeroizing::new(value.as_bytes().to_vec())
        };
        out.push(SecretEntry {
            key: key.to_owned(),
            value: bytes.to_vec(),
        });
    }
    Ok(out)
}

fn read_limited(source: impl Read, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    source
        .take(READ_LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Local(format!("can't read {what}: {e}")))?;
    Ok(bytes)
}

/// `--file`: a JSON object of strings, or `KEY=VALUE` lines (blank lines
/// and `#` comments skipped).
fn from_file(path: &Path) -> Result<Vec<SecretEntry>, CliError> {
    let text = Zeroizing::new(
        String::from_utf8(
            read_limited(
                std::fs::File::open(path)
                    .map_err(|e| CliError::Local(format!("can't read {}: {e}", path.display())))?,
                &path.display().to_string(),
            )?
            .to_vec(),
        )
        .map_err(|_| {
            CliError::Local(format!(
                "{} is not text: give binary values with KEY=@FILE",
                path.display()
            ))
        })?,
    );
    if text.trim_start().starts_with('{') {
        let object: serde_json::Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
            CliError::Local(format!("{} is not a JSON object: {e}", path.display()))
        })?;
        return object
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(s) => Ok(SecretEntry {
                    key,
                    value: s.into_bytes(),
                }),
                _ => Err(CliError::Local(format!(
                    "{}: the value of {key:?} is not a string",
                    path.display()
                ))),
            })
            .collect();
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(CliError::Local(format!(
                "{} line {}: not KEY=VALUE",
                path.display(),
                n + 1
            )));
        };
        out.push(SecretEntry {
            key: key.trim().to_owned(),
            value: value.as_bytes().to_vec(),
        });
    }
    Ok(out)
}

fn content_json(content: &[SecretEntry]) -> Result<Value, CliError> {
    let mut map = serde_json::Map::new();
    for entry in content {
        let text = std::str::from_utf8(&entry.value).map_err(|_| {
            CliError::Local(format!(
                "the value of {:?} is not text: read it alone, raw, with `roster secrets get NAME {}`",
                entry.key, entry.key
            ))
        })?;
        map.insert(entry.key.clone(), Value::String(text.to_owned()));
    }
    Ok(Value::Object(map))
}

fn info_json(info: &SecretInfo, revisions: bool) -> Value {
    let mut out = json!({
        "id": info.id,
        "name": info.name,
        "owner": info.owner,
        "owner_kind": info.owner_kind,
        "description": info.description,
        "rotation": info.rotation,
        "next_rotation": (info.next_rotation > 0).then_some(info.next_rotation),
        "latest": info.latest,
        "tracking": (info.tracking > 0).then_some(info.tracking),
        "created": info.created,
        "updated": info.updated,
        "manages": info.manages,
    });
    if info.manages {
        out["shared_with"] = info
            .grants
            .iter()
            .map(|g| json!({ "user": g.user, "role": g.role }))
            .collect();
    }
    if revisions {
        out["revisions"] = info
            .revisions
            .iter()
            .map(|r| {
                json!({
                    "revision": r.revision,
                    "created": r.created,
                    "expires": (r.expires > 0).then_some(r.expires),
                    "readers": r.readers,
                })
            })
            .collect();
    }
    out
}

pub fn render_list(list: &[SecretInfo], revisions: bool, now: i64) -> String {
    if list.is_empty() {
        return "No secrets.\n".to_owned();
    }
    let mut headers = vec!["ID", "Name", "Owner", "Rotation", "Revision", "Updated"];
    if revisions {
        headers.push("Revisions");
    }
    let mut table = Table::new(&headers);
    for s in list {
        let owner = if s.owner_kind == "environment" {
            format!("{} (environment)", s.owner)
        } else {
            s.owner.clone()
        };
        let mut row = vec![
            s.id.clone(),
            s.name.clone(),
            owner,
            s.rotation.clone(),
            s.latest.to_string(),
            time::ago(s.updated, now),
        ];
        if revisions {
            row.push(
                s.revisions
                    .iter()
                    .map(|r| r.revision.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        table.row(row);
    }
    table.render()
}

pub fn render_show(info: &SecretInfo, revisions: bool, now: i64) -> String {
    let mut pairs = vec![
        ("ID", info.id.clone()),
        ("Name", info.name.clone()),
        (
            "Owner",
            if info.owner_kind == "environment" {
                format!("environment {}", info.owner)
            } else {
                info.owner.clone()
            },
        ),
        ("Description", info.description.clone()),
        ("Rotation", info.rotation.clone()),
        ("Latest revision", info.latest.to_string()),
        (
            "You track",
            if info.tracking > 0 {
                format!("revision {}", info.tracking)
            } else {
                "nothing yet (your first read pins the latest)".into()
            },
        ),
        ("Updated", time::ago(info.updated, now)),
    ];
    if info.next_rotation > 0 {
        pairs.push(("Next rotation", time::until(info.next_rotation, now)));
    }
    if info.manages {
        let shared = if info.grants.is_empty() {
            "nobody".to_owned()
        } else {
            info.grants
                .iter()
                .map(|g| format!("{} ({})", g.user, g.role))
                .collect::<Vec<_>>()
                .join(", ")
        };
        pairs.push(("Shared with", shared));
    }
    let mut out = fields(&pairs);
    if revisions && !info.revisions.is_empty() {
        let mut table = Table::new(&["Revision", "Created", "Expires", "Readers"]);
        for r in &info.revisions {
            table.row(vec![
                r.revision.to_string(),
                time::ago(r.created, now),
                time::until(r.expires, now),
                r.readers.to_string(),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

/// Prints each signal rosterd sends this connection, one line each.
async fn watch(ctx: &mut Ctx<'_>, name: Option<String>, as_json: bool) -> Result<(), CliError> {
    let proxy = ctx.client.secrets().await?;
    let only = match &name {
        Some(name) => Some(proxy.show(name).await.map_err(|e| ctx.client.error(e))?.id),
        None => None,
    };
    // Subscribed before asking: no signal between the two is lost.
    let mut stream = proxy
        .inner()
        .receive_all_signals()
        .await
        .map_err(|e| CliError::Local(format!("can't listen for signals: {e}")))?;
    proxy.watch().await.map_err(|e| ctx.client.error(e))?;
    eprintln!("Watching secrets; interrupt to stop.");
    loop {
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await;
        let Some(message) = next else {
            return Err(CliError::Local("rosterd went away: the watch ended".into()));
        };
        let header = message.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        let Ok((id, revision)) = message.body().deserialize::<(String, u32)>() else {
            continue;
        };
        if only.as_ref().is_some_and(|o| o != &id) {
            continue;
        }
        let event = match member.as_str() {
            "SecretChanged" => "changed",
            "SecretRotate" => "rotate",
            "SecretExpired" => "expired",
            "SecretRemoved" => "removed",
            _ => continue,
        };
        let line = if as_json {
            json!({ "event": event, "id": id, "revision": revision }).to_string()
        } else {
            format!("{event} {id} revision {revision}")
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}
