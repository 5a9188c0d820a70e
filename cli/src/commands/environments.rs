//! `roster environments add / list / remove`.

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::table::Table;
use crate::output::{count, json, time};
use roster_client::EnvironmentInfo;

pub async fn add(ctx: &mut Ctx<'_>, name: String) -> Result<(), CliError> {
    let environments = ctx.client.environments().await?;
    let env = environments
        .add(&name)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!(
        "Environment \"{0}\" added: `roster users grant USERNAME LEVEL --environment {0}` gives access to it.",
        env.name
    );
    Ok(())
}

pub async fn list(ctx: &mut Ctx<'_>, as_json: bool) -> Result<(), CliError> {
    let environments = ctx.client.environments().await?;
    let mut list = environments.list().await.map_err(|e| ctx.client.error(e))?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    super::fleet::say_if_stale(ctx).await;
    if as_json {
        let out: Vec<json::Environment> = list.iter().map(json::Environment::from).collect();
        return print_json(&out);
    }
    print!("{}", render(&list, ctx.now));
    Ok(())
}

/// This host's environment is marked with `*`, as Juju marks the current one.
pub fn render(environments: &[EnvironmentInfo], now: i64) -> String {
    let mut table = Table::new(&["Name", "Grants", "Created"]);
    for env in environments {
        let name = if env.this_host {
            format!("{}*", env.name)
        } else {
            env.name.clone()
        };
        table.row(vec![
            name,
            env.grants.to_string(),
            time::ago(env.created, now),
        ]);
    }
    let mut out = table.render();
    if environments.iter().any(|e| e.this_host) {
        out.push_str("(* this host's environment)\n");
    }
    out
}

pub async fn remove(ctx: &mut Ctx<'_>, name: String, force: bool) -> Result<(), CliError> {
    let environments = ctx.client.environments().await?;
    let dropped = environments
        .remove(&name, force)
        .await
        .map_err(|e| ctx.client.error(e))?;
    if dropped > 0 {
        println!(
            "Environment \"{name}\" removed with its {}.",
            count(dropped, "grant", "grants")
        );
    } else {
        println!("Environment \"{name}\" removed.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_hosts_environment_is_starred() {
        let now = 1_800_000_000;
        let envs = [
            EnvironmentInfo {
                name: "default".into(),
                created: now - 3 * 86_400,
                grants: 4,
                this_host: true,
            },
            EnvironmentInfo {
                name: "staging".into(),
                created: now - 30,
                grants: 0,
                this_host: false,
            },
        ];
        assert_eq!(
            render(&envs, now),
            "Name      Grants  Created\n\
             default*  4       3 days ago\n\
             staging   0       just now\n\
             (* this host's environment)\n"
        );
    }
}
