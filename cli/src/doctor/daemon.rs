//! Is rosterd reachable on the bus? Asked the way every command asks:
//! `Users.WhoAmI`, which anyone may call and which changes nothing.

use super::Finding;
use crate::connection::Client;
use crate::errors::CliError;
use std::time::Duration;

/// A hung rosterd must not hang the doctor with it.
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn check(address: &str) -> Finding {
    let client = match Client::connect(address, Some(TIMEOUT)).await {
        Ok(client) => client,
        Err(CliError::BusRefused {
            uid,
            resolves_here: false,
            ..
        }) => {
            return Finding::fail(
                "rosterd",
                format!(
                    "the bus at {address} closed the connection while checking uid {uid}: \
                     dbus-daemon drops a uid it can't resolve"
                ),
                "add roster to the passwd: and group: lines of /etc/nsswitch.conf (passwd: files roster)",
            );
        }
        Err(_) => {
            return Finding::fail(
                "rosterd",
                format!("no D-Bus system bus answers at {address}"),
                "start D-Bus (systemctl start dbus), or point DBUS_SYSTEM_BUS_ADDRESS at the bus rosterd serves",
            );
        }
    };
    let answer = match client.users().await {
        Ok(users) => users.who_am_i().await.map_err(|e| client.error(e)),
        Err(e) => Err(e),
    };
    match answer {
        Ok(me) => {
            let who = if !me.user.is_empty() {
                format!("you are {}", me.user)
            } else if me.is_root {
                "you are root".to_owned()
            } else {
                format!("uid {} is not a Roster user", me.uid)
            };
            Finding::ok(
                "rosterd",
                format!(
                    "rosterd is reachable on {address} ({who}; this host is in environment {:?})",
                    me.environment
                ),
            )
        }
        Err(CliError::Unreachable { .. }) => Finding::fail(
            "rosterd",
            format!(
                "rosterd is not running: nobody answers for org.roster.Roster1 on {address} \
                 (Roster users can't log in or use sudo until it is back)"
            ),
            "systemctl start rosterd (journalctl -u rosterd -b says why it stopped)",
        ),
        Err(CliError::NoAnswer { after, .. }) => Finding::fail(
            "rosterd",
            format!(
                "rosterd owns org.roster.Roster1 on {address} but did not answer within {} s: \
                 it is stopped or stuck (Roster users can't log in or use sudo meanwhile)",
                after.as_secs()
            ),
            "systemctl status rosterd and journalctl -u rosterd -b; systemctl restart rosterd if it stays stuck",
        ),
        Err(other) => Finding::fail(
            "rosterd",
            format!(
                "rosterd did not answer whoami: {}",
                other
                    .render(Default::default())
                    .trim_start_matches("roster: ")
            ),
            "check the bus policy /usr/share/dbus-1/system.d/org.roster.Roster1.conf and journalctl -u rosterd",
        ),
    }
}
