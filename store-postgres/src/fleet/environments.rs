//! An environment's fleet settings (`roster-controller environments set
//! E login_level=… offline_grace=… host_root_is_admin=…`). Changing them
//! logs an `environment` change (the trigger on `environments`).

use crate::PgTx;
use crate::tx::{Result, get, level};
use roster_core::error::Error;
use roster_core::level::Level;

/// What hosts of an environment apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentSettings {
    /// Who may log in on its hosts: a grant at or above this level.
    pub login_level: Level,
    /// How long a host keeps allowing logins without an answer from the
    /// controller; 0 = no offline logins.
    pub offline_grace_secs: u64,
    /// Root on a host of this environment has its `admin` holders' rights.
    pub host_root_is_admin: bool,
}

impl Default for EnvironmentSettings {
    /// The schema's defaults: `write`, 24 hours, false.
    fn default() -> Self {
        EnvironmentSettings {
            login_level: Level::Write,
            offline_grace_secs: 86_400,
            host_root_is_admin: false,
        }
    }
}

impl PgTx<'_> {
    /// The settings of the environment `name`; `None` when there is none.
    pub fn environment_settings(&self, name: &str) -> Result<Option<EnvironmentSettings>> {
        let Some(row) = self.query_opt(
            "SELECT login_level, offline_grace, host_root_is_admin FROM environments \
             WHERE name = $1",
            &[&name],
        )?
        else {
            return Ok(None);
        };
        let grace: i64 = get(&row, 1)?;
        Ok(Some(EnvironmentSettings {
            login_level: level(&get::<String>(&row, 0)?)?,
            offline_grace_secs: u64::try_from(grace).unwrap_or(0),
            host_root_is_admin: get(&row, 2)?,
        }))
    }

    /// Set the settings of the environment `name`; false when there is
    /// no such environment (nothing changed).
    pub fn set_environment_settings(
        &self,
        name: &str,
        settings: &EnvironmentSettings,
    ) -> Result<bool> {
        let grace = i64::try_from(settings.offline_grace_secs).map_err(|_| {
            Error::InvalidArgument(format!(
                "offline_grace {}s is too long: at most {}s",
                settings.offline_grace_secs,
                i64::MAX
            ))
        })?;
        let changed = self.execute(
            "UPDATE environments SET login_level = $2, offline_grace = $3, \
             host_root_is_admin = $4 WHERE name = $1",
            &[
                &name,
                &settings.login_level.as_str(),
                &grace,
                &settings.host_root_is_admin,
            ],
        )?;
        Ok(changed > 0)
    }
}
