//! The fleet's admin surface through `/v1/ops`, for role admins: core's
//! `ViewFleet`/`ManageFleet` decide, [`crate::fleet_admin`] does the
//! work (the same code as root's commands on the controller machine).

use super::super::ApiError;
use crate::fleet_admin;
use crate::server::Shared;
use crate::store::CallTags;
use roster_core::authz::{Operation, authorize};
use roster_core::clock::{Clock, SystemClock};
use roster_core::{Actor, Result};
use roster_fleet_protocol::{Op, OpsAnswer};
use roster_store_postgres::PgTx;
use std::sync::Arc;

type FleetWork = Box<dyn FnOnce(&PgTx<'_>) -> Result<OpsAnswer> + Send>;

pub async fn run(
    shared: &Arc<Shared>,
    tags: Option<CallTags>,
    actor: &Actor,
    op: Op,
) -> std::result::Result<OpsAnswer, ApiError> {
    let writes = op.writes();
    let needed = if writes {
        Operation::ManageFleet
    } else {
        Operation::ViewFleet
    };
    authorize(actor, &needed)?;
    let person = roster_core::rules::actor_name(actor)
        .unwrap_or("root")
        .to_string();
    let now = SystemClock.now();
    let work: FleetWork = match op {
        Op::HostsList { environment } => Box::new(move |tx| {
            Ok(OpsAnswer::Hosts {
                hosts: fleet_admin::hosts(tx, environment.as_deref())?,
            })
        }),
        Op::HostsRevoke { host } => Box::new(move |tx| {
            fleet_admin::revoke_host(tx, &host, now)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("{host:?} is revoked: refused at its next request"),
            })
        }),
        Op::JoinTokenCreate {
            environment,
            expires,
        } => Box::new(move |tx| {
            let expires = expires.as_deref().unwrap_or("1h");
            let (token, row) =
                fleet_admin::create_join_token(tx, &environment, expires, &person, now)?;
            Ok(OpsAnswer::JoinToken {
                token: token.expose().to_string(),
                view: fleet_admin::join_token_view(&row),
            })
        }),
        Op::JoinTokenList => Box::new(|tx| {
            Ok(OpsAnswer::JoinTokens {
                tokens: tx
                    .join_tokens()?
                    .iter()
                    .map(fleet_admin::join_token_view)
                    .collect(),
            })
        }),
        Op::JoinTokenDelete { id } => Box::new(move |tx| {
            fleet_admin::delete_join_token(tx, &id)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!("the join token {id} is deleted"),
            })
        }),
        Op::EnvironmentsSet {
            environment,
            settings,
        } => Box::new(move |tx| {
            let (policy, _) = fleet_admin::set_environment(tx, &environment, &settings, now)?;
            Ok(OpsAnswer::Done {
                user: None,
                message: format!(
                    "{environment}: login_level={} offline_grace={}s host_root_is_admin={}",
                    policy.login_level.as_str(),
                    policy.offline_grace.as_secs(),
                    policy.host_root_is_admin
                ),
            })
        }),
        other => {
            return Err(ApiError::bad_request(format!(
                "{} is not a fleet admin op",
                other.name()
            )));
        }
    };
    let answer = shared
        .store
        .run(move |store| {
            if writes {
                if let Some(tags) = tags {
                    store.share_call_tags(tags);
                }
                let answer = store.fleet_write(work);
                // A pooled connection keeps no call's tags.
                store.share_call_tags(CallTags::default());
                answer
            } else {
                store.fleet_read(work)
            }
        })
        .await?;
    Ok(answer)
}
