//! An environment's fleet settings (`roster-controller environments set
//! E login_level=… offline_grace=… host_root_is_admin=…`). Changing them
//! logs an `environment` change (the trigger on `environments`). The
//! settings are core's [`EnvironmentPolicy`]; a new environment has its
//! defaults (`write`, 24 hours, false), which the schema's defaults match.

use crate::PgTx;
use crate::tx::{Result, get, level};
use roster_core::error::Error;
use roster_core::fleet::EnvironmentPolicy;
use std::time::Duration;

impl PgTx<'_> {
    /// The settings of the environment `name`; `None` when there is none.
    pub fn environment_settings(&self, name: &str) -> Result<Option<EnvironmentPolicy>> {
        let Some(row) = self.query_opt(
            "SELECT login_level, offline_grace, host_root_is_admin FROM environments \
             WHERE name = $1",
            &[&name],
        )?
        else {
            return Ok(None);
        };
        let grace: i64 = get(&row, 1)?;
        Ok(Some(EnvironmentPolicy {
            login_level: level(&get::<String>(&row, 0)?)?,
            offline_grace: Duration::from_secs(u64::try_from(grace).unwrap_or(0)),
            host_root_is_admin: get(&row, 2)?,
        }))
    }

    /// Set the settings of the environment `name`; false when there is
    /// no such environment (nothing changed).
    pub fn set_environment_settings(
        &self,
        name: &str,
        settings: &EnvironmentPolicy,
    ) -> Result<bool> {
        let grace = i64::try_from(settings.offline_grace.as_secs()).map_err(|_| {
            Error::InvalidArgument(format!(
                "offline_grace {}s is too long: at most {}s",
                settings.offline_grace.as_secs(),
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
