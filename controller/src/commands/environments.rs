//! `roster-controller environments set E key=value…` and `list`: the
//! settings the controller decides for an environment's hosts
//! (`login_level`, `offline_grace`, `host_root_is_admin`). Hosts get a
//! change through the feed; an environment named for the first time is
//! created.

use super::now;
use crate::error::Fail;
use crate::store::Store;
use roster_core::config::parse_duration;
use roster_core::fleet::EnvironmentPolicy;
use roster_core::level::Level;
use roster_core::store::Transaction;
use roster_hostconfig::duration::format as format_duration;

/// Apply `key=value` settings on top of `policy`, every bad one named.
pub fn apply(
    mut policy: EnvironmentPolicy,
    settings: &[String],
) -> Result<EnvironmentPolicy, Fail> {
    let mut problems = Vec::new();
    for setting in settings {
        let Some((key, value)) = setting.split_once('=') else {
            problems.push(format!("{setting:?} is not KEY=VALUE"));
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "login_level" => match value.parse::<Level>() {
                Ok(level) => policy.login_level = level,
                Err(e) => problems.push(format!("login_level: {e}")),
            },
            // DESIGN.md's "0 means no offline logins", unit or none.
            "offline_grace" if value == "0" => policy.offline_grace = std::time::Duration::ZERO,
            "offline_grace" => match parse_duration(value) {
                Ok(grace) => policy.offline_grace = grace,
                Err(e) => problems.push(format!("offline_grace: {e} (0 = no offline logins)")),
            },
            "host_root_is_admin" => match value {
                "true" => policy.host_root_is_admin = true,
                "false" => policy.host_root_is_admin = false,
                other => problems.push(format!(
                    "host_root_is_admin: {other:?} is not true or false"
                )),
            },
            other => problems.push(format!(
                "unknown setting {other:?} (known: login_level, offline_grace, host_root_is_admin)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(Fail::Usage(format!(
            "nothing was changed: {}",
            problems.join("; ")
        )))
    }
}

pub fn set(store: &Store, environment: &str, settings: &[String]) -> Result<(), Fail> {
    roster_core::validate::environment_name(environment)?;
    let at = now();
    let (policy, created) = store.with(|s| {
        s.fleet_write(|tx| {
            let created = tx.environment(environment)?.is_none();
            if created {
                tx.insert_environment(environment, at)?;
            }
            let current = tx.environment_settings(environment)?.unwrap_or_default();
            let policy = apply(current, settings)
                .map_err(|e| roster_core::Error::InvalidArgument(e.to_string()))?;
            tx.set_environment_settings(environment, &policy)?;
            Ok((policy, created))
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn settings_apply_on_top_and_bad_ones_change_nothing() {
        let policy = apply(
            EnvironmentPolicy::default(),
            &["login_level=admin".into(), "offline_grace=0".into()],
        )
        .unwrap();
        assert_eq!(policy.login_level, Level::Admin);
        assert_eq!(policy.offline_grace, Duration::ZERO);
        assert!(!policy.host_root_is_admin);
        let bad = apply(
            EnvironmentPolicy::default(),
            &[
                "login_level=boss".into(),
                "grace=1h".into(),
                "host_root_is_admin=yes".into(),
            ],
        )
        .unwrap_err()
        .to_string();
        for named in ["login_level", "grace", "host_root_is_admin"] {
            assert!(bad.contains(named), "{bad}");
        }
    }
}
