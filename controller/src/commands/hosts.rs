//! `roster-controller hosts list|revoke`.

use super::{now, root_tag, when};
use crate::error::Fail;
use crate::fleet_admin;
use crate::store::Store;

pub fn list(store: &Store, environment: Option<&str>) -> Result<(), Fail> {
    let hosts = store.with(|s| s.fleet_read(|tx| fleet_admin::hosts(tx, environment)))?;
    let at = now();
    println!(
        "{:<24} {:<16} {:<24} {:>10} {:<24} STATE",
        "HOST", "ENVIRONMENT", "LAST SEEN", "LAG", "CERTIFICATE EXPIRES"
    );
    for host in hosts {
        let state = match host.revoked {
            Some(revoked) => format!("revoked {}", when(revoked)),
            None if host.certificate_expires <= at => "certificate expired".into(),
            None => "enrolled".into(),
        };
        println!(
            "{:<24} {:<16} {:<24} {:>10} {:<24} {state}",
            host.name,
            host.environment,
            host.last_seen.map_or_else(|| "never".into(), when),
            host.lag,
            when(host.certificate_expires),
        );
    }
    Ok(())
}

pub fn revoke(store: &Store, name: &str) -> Result<(), Fail> {
    let at = now();
    let tag = root_tag("hosts revoke", name)?;
    store.with(|s| {
        s.call_tags().set(tag);
        s.fleet_write(|tx| fleet_admin::revoke_host(tx, name, at))
    })?;
    println!(
        "Revoked {name:?}: it is refused at its next request and, told so, wipes its cached hashes and keys (a host that can't be told keeps them until its offline grace ends)."
    );
    Ok(())
}
