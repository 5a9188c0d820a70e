//! `org.roster.Roster1.Import`: the Roster side of `roster users import`
//! (the CLI, as root, edits the host's files; rosterd can't write `/etc`
//! under its unit). Core authorizes (root only) and commits each record in
//! a transaction of its own; the whole batch is one store call, so its
//! commits share one NSS snapshot write, finished before the answer (the
//! CLI removes the local entries only after it).

use crate::convert;
use crate::daemon::{Daemon, Result};
use roster_client::{
    ImportRequest, ImportUserRecord, ImportUserResult, ImportedUserRef, UndoResult, UserState,
};
use roster_core::import::{ImportBatch, ImportOutcome, ImportRecord, ImportedUser, UndoOutcome};
use std::sync::Arc;
use zbus::message::Header;

pub struct Import {
    pub d: Arc<Daemon>,
}

fn record(r: ImportUserRecord) -> ImportRecord {
    ImportRecord {
        name: r.name,
        display_name: r.display_name,
        home: r.home,
        shell: r.shell,
        hash: (!r.hash.is_empty()).then_some(r.hash),
        locked: r.locked,
        level: convert::level_from_wire(r.level),
        ssh_keys: r.ssh_keys,
    }
}

fn result(name: String, outcome: ImportOutcome) -> ImportUserResult {
    let mut out = ImportUserResult {
        name,
        outcome: String::new(),
        reason: String::new(),
        uid: 0,
        state: UserState::Pending,
        registration_code: String::new(),
        code_expires: 0,
        keys: 0,
        key_problems: Vec::new(),
        fingerprint: String::new(),
    };
    match outcome {
        ImportOutcome::Imported {
            user,
            code,
            keys,
            key_problems,
            fingerprint,
        } => {
            out.outcome = "imported".into();
            out.uid = user.uid;
            out.state = convert::state(user.state);
            if let Some(code) = code {
                out.registration_code = code.code.expose().to_owned();
                out.code_expires = code.expires;
            }
            out.keys = keys;
            out.key_problems = key_problems;
            out.fingerprint = fingerprint;
        }
        ImportOutcome::AlreadyImported { user, fingerprint } => {
            out.outcome = "already-imported".into();
            out.uid = user.uid;
            out.state = convert::state(user.state);
            out.fingerprint = fingerprint;
        }
        ImportOutcome::Refused { reason } => {
            out.outcome = "refused".into();
            out.reason = reason;
        }
    }
    out
}

#[zbus::interface(name = "org.roster.Roster1.Import")]
impl Import {
    async fn import_users(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request: ImportRequest,
    ) -> Result<Vec<ImportUserResult>> {
        let count = request.records.len();
        self.d
            .audited(
                &hdr,
                "users.import",
                &format!("{count} users"),
                async |call| {
                    let names: Vec<String> =
                        request.records.iter().map(|r| r.name.clone()).collect();
                    let batch = ImportBatch {
                        records: request.records.into_iter().map(record).collect(),
                        leaving: request.leaving,
                        issue_codes: request.issue_codes,
                    };
                    let outcomes = self
                        .d
                        .acting(call, move |r, a| r.import_users(a, batch))
                        .await?;
                    let results: Vec<ImportUserResult> = names
                        .into_iter()
                        .zip(outcomes)
                        .map(|(name, outcome)| result(name, outcome))
                        .collect();
                    let imported: Vec<&str> = results
                        .iter()
                        .filter(|r| r.outcome == "imported")
                        .map(|r| r.name.as_str())
                        .collect();
                    call.detail("imported", imported.len().to_string());
                    call.detail(
                        "refused",
                        results
                            .iter()
                            .filter(|r| r.outcome == "refused")
                            .count()
                            .to_string(),
                    );
                    if let Some(first) = results.iter().find(|r| !r.registration_code.is_empty()) {
                        call.answers_code(&first.name);
                    }
                    // Adopted crypt hashes now in the store: unknown users pay
                    // a crypt of the same kind from now on.
                    if !imported.is_empty() && self.d.legacy_dummy.kind().is_none() {
                        let sample = self.d.store(call, |r| r.legacy_hash_sample()).await?;
                        self.d.legacy_dummy.set_from(sample.as_deref());
                    }
                    Ok(results)
                },
            )
            .await
    }

    async fn undo_import(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        users: Vec<ImportedUserRef>,
    ) -> Result<Vec<UndoResult>> {
        let count = users.len();
        self.d
            .audited(
                &hdr,
                "users.import-undo",
                &format!("{count} users"),
                async |call| {
                    let users: Vec<ImportedUser> = users
                        .into_iter()
                        .map(|u| ImportedUser {
                            name: u.name,
                            uid: u.uid,
                            fingerprint: u.fingerprint,
                        })
                        .collect();
                    let outcomes = self
                        .d
                        .acting(call, move |r, a| r.remove_imported(a, users))
                        .await?;
                    let mut results = Vec::with_capacity(outcomes.len());
                    let mut deleted = 0usize;
                    for (name, outcome) in outcomes {
                        results.push(match outcome {
                            UndoOutcome::Deleted { uid } => {
                                deleted += 1;
                                // As a delete does: the uid's processes end.
                                self.d.end_user_processes(uid).await;
                                UndoResult {
                                    name,
                                    outcome: "deleted".into(),
                                    reason: String::new(),
                                }
                            }
                            UndoOutcome::Kept { reason } => UndoResult {
                                name,
                                outcome: "kept".into(),
                                reason,
                            },
                        });
                    }
                    call.detail("deleted", deleted.to_string());
                    let sample = self.d.store(call, |r| r.legacy_hash_sample()).await?;
                    self.d.legacy_dummy.set_from(sample.as_deref());
                    Ok(results)
                },
            )
            .await
    }

    async fn password_kind(&self, #[zbus(header)] hdr: Header<'_>, name: String) -> Result<String> {
        let call = self.d.begin_read(&hdr, "users.password-kind").await?;
        let kind = self
            .d
            .acting(&call, move |r, a| r.password_kind(a, &name))
            .await?;
        Ok(kind.map(|k| k.describe()).unwrap_or_default())
    }
}
