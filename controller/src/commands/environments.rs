//! `roster-controller environments set E key=value…` and `list`: the
//! settings the controller decides for an environment's hosts
//! (`login_level`, `offline_grace`, `host_root_is_admin`). Hosts get a
//! change through the feed; an environment named for the first time is
//! created.

use super::{now, root_tag};
use crate::error::Fail;
use crate::fleet_admin;
use crate::store::Store;
use roster_core::fleet::EnvironmentPolicy;
use roster_core::store::Transaction;
use roster_hostconfig::duration::format as format_duration;

pub fn set(store: &Store, environment: &str, settings: &[String]) -> Result<(), Fail> {
    let at = now();
    let tag = root_tag("environments set", environment)?;
    let (policy, created) = store.with(|s| {
        s.call_tags().set(tag);
        s.fleet_write(|tx| fleet_admin::set_environment(tx, environment, settings, at))
    })?;
    if created {
        println!("Created the environment {environment:?}.");
    }
    print_one(environment, &policy);
    Ok(())
}

pub fn list(store: &Store) -> Result<(), Fail> {
    let all = store.with(|s| {
        s.fleet_read(|tx| {
            let mut out = Vec::new();
            for environment in tx.environments()? {
                let policy = tx
                    .environment_settings(&environment.name)?
                    .unwrap_or_default();
                out.push((environment.name, policy));
            }
            Ok(out)
        })
    })?;
    for (name, policy) in all {
        print_one(&name, &policy);
    }
    Ok(())
}

fn print_one(name: &str, policy: &EnvironmentPolicy) {
    println!(
        "{name}: login_level={} offline_grace={} host_root_is_admin={}",
        policy.login_level.as_str(),
        format_duration(policy.offline_grace),
        policy.host_root_is_admin
    );
}
