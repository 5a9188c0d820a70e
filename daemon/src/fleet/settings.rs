//! The fleet-wide settings an enrolled host takes from its controller
//! (DESIGN.md "Fleet-wide rules": the uid range and the admin group come
//! from the controller; rosterd.toml may not set them while enrolled).
//! They arrive with the enrollment and are applied when rosterd starts:
//! a join that brings other values than the running ones ends in a
//! restart.

use roster_core::Config;
use roster_fleet_protocol::FleetSettings;

/// `config` with the controller's settings in place of its own.
pub fn apply(config: &mut Config, settings: &FleetSettings) {
    config.uid_min = settings.uid_min;
    config.uid_max = settings.uid_max;
    config.admin_group.clone_from(&settings.admin_group);
    config.admin_gid = settings.admin_gid;
}

/// Why rosterd, running with `config`, must restart to take the
/// controller's settings, a phrase each (empty: it may go on). A fleet
/// uid range inside the running one needs no restart: the sweep (the one
/// use of the range on an enrolled host) only needs to cover the fleet's
/// uids, and the running range was checked against the local accounts at
/// start; the next start takes the fleet's range exactly.
pub fn restart_needed(config: &Config, settings: &FleetSettings) -> Vec<String> {
    let mut why = Vec::new();
    if settings.uid_min < config.uid_min || settings.uid_max > config.uid_max {
        why.push(format!(
            "uid range {}–{} (rosterd runs with {}–{})",
            settings.uid_min, settings.uid_max, config.uid_min, config.uid_max
        ));
    }
    if (config.admin_group.as_str(), config.admin_gid)
        != (settings.admin_group.as_str(), settings.admin_gid)
    {
        why.push(format!(
            "admin group {} ({}) (rosterd runs with {} ({}))",
            settings.admin_group, settings.admin_gid, config.admin_group, config.admin_gid
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> FleetSettings {
        FleetSettings {
            uid_min: 2_000_000,
            uid_max: 2_999_999,
            admin_group: "fleet-admins".into(),
            admin_gid: 1_999_999,
        }
    }

    #[test]
    fn the_controllers_values_replace_the_hosts_and_then_nothing_is_needed() {
        let mut config = Config::default();
        let why = restart_needed(&config, &fleet());
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].starts_with("uid range 2000000–2999999 (rosterd runs with "));
        assert!(
            why[1]
                .starts_with("admin group fleet-admins (1999999) (rosterd runs with roster-admins")
        );
        apply(&mut config, &fleet());
        assert_eq!((config.uid_min, config.uid_max), (2_000_000, 2_999_999));
        assert_eq!(config.admin_group, "fleet-admins");
        assert_eq!(config.admin_gid, 1_999_999);
        assert!(restart_needed(&config, &fleet()).is_empty());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_fleet_range_inside_the_running_one_needs_no_restart() {
        let config = Config::default();
        let inside = FleetSettings {
            uid_min: config.uid_min + 64,
            uid_max: config.uid_min + 95,
            admin_group: config.admin_group.clone(),
            admin_gid: config.admin_gid,
        };
        assert!(restart_needed(&config, &inside).is_empty());
        let straddling = FleetSettings {
            uid_min: config.uid_min - 1,
            ..inside
        };
        assert_eq!(restart_needed(&config, &straddling).len(), 1);
    }
}
