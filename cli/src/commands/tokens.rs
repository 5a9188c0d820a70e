//! `roster tokens create / list / rename / delete`.
//!
//! A token's secret is printed once, alone on stdout (so
//! `roster tokens create > FILE` stores exactly it); everything else goes
//! to stderr. Listings never show it (the wire type has no field for it).

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::table::Table;
use crate::output::{json, time};
use roster_client::{Scope, Secret, TokenInfo};

pub async fn create(
    ctx: &mut Ctx<'_>,
    name: Option<String>,
    scope: Scope,
    expires_in: Option<u64>,
    password_stdin: bool,
) -> Result<(), CliError> {
    // On an enrolled host a `roster login` session can't make a token:
    // the person's password can (read first, or asked when refused).
    if password_stdin {
        super::fleet::present_password(ctx, true).await?;
    }
    let mut created = create_once(ctx, &name, scope, expires_in).await;
    if let Err(e) = &created
        && super::fleet::wants_password(e)
        && !password_stdin
        && ctx.input.interactive()
    {
        super::fleet::present_password(ctx, false).await?;
        created = create_once(ctx, &name, scope, expires_in).await;
    }
    let created = created?;
    let info = created.info;
    let secret = Secret::new(created.token);
    eprintln!("{}", describe_created(&info, ctx.now));
    println!("{}", secret.expose());
    Ok(())
}

async fn create_once(
    ctx: &Ctx<'_>,
    name: &Option<String>,
    scope: Scope,
    expires_in: Option<u64>,
) -> Result<roster_client::TokenCreated, CliError> {
    let tokens = ctx.client.tokens().await?;
    tokens
        .create(
            name.as_deref().unwrap_or(""),
            Some(scope).into(),
            expires_in.unwrap_or(0),
        )
        .await
        .map_err(|e| ctx.client.error(e))
}

pub fn describe_created(info: &TokenInfo, now: i64) -> String {
    let name = if info.name.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", info.name)
    };
    let scope = if info.scope == Scope::Full {
        "scope full: it can do everything its user can".to_owned()
    } else {
        format!("scope {}", info.scope)
    };
    let expiry = if info.expires > 0 {
        format!("expires {}", time::until(info.expires, now))
    } else {
        "never expires".to_owned()
    };
    format!(
        "Token {}{name} created for \"{}\" ({scope}; {expiry}).\n\
         It is printed below once and can't be shown again: store it now.\n\
         Use it with --token-file FILE or ROSTER_TOKEN.",
        info.id, info.user
    )
}

pub async fn list(ctx: &mut Ctx<'_>, user: Option<String>, as_json: bool) -> Result<(), CliError> {
    let tokens = ctx.client.tokens().await?;
    let mut list = tokens
        .list(user.as_deref().unwrap_or(""))
        .await
        .map_err(|e| ctx.client.error(e))?;
    list.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    if as_json {
        let out: Vec<json::Token> = list.iter().map(json::Token::from).collect();
        return print_json(&out);
    }
    print!("{}", render(&list, ctx.now));
    Ok(())
}

pub fn render(tokens: &[TokenInfo], now: i64) -> String {
    if tokens.is_empty() {
        return "No tokens.\n".to_owned();
    }
    let mut table = Table::new(&[
        "ID",
        "User",
        "Name",
        "Scope",
        "Created",
        "Last used",
        "Expires",
    ]);
    for t in tokens {
        table.row(vec![
            t.id.clone(),
            t.user.clone(),
            t.name.clone(),
            t.scope.to_string(),
            time::ago(t.created, now),
            time::ago(t.last_used, now),
            time::until(t.expires, now),
        ]);
    }
    table.render()
}

pub async fn rename(ctx: &mut Ctx<'_>, id: String, name: String) -> Result<(), CliError> {
    let tokens = ctx.client.tokens().await?;
    let info = tokens
        .rename(&id, &name)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!("Token {} renamed to \"{}\".", info.id, info.name);
    Ok(())
}

pub async fn delete(ctx: &mut Ctx<'_>, id: String, user: Option<String>) -> Result<(), CliError> {
    let tokens = ctx.client.tokens().await?;
    tokens
        .delete(&id, user.as_deref().unwrap_or(""))
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!("Token {id} deleted: it no longer works.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn token(scope: &str, expires: i64) -> TokenInfo {
        TokenInfo {
            id: "rt_4f2a".into(),
            user: "bob".into(),
            name: "monitoring".into(),
            scope: scope.parse().expect("a scope word"),
            created: NOW - 86_400,
            last_used: 0,
            expires,
        }
    }

    #[test]
    fn a_full_token_says_what_it_can_do() {
        let out = describe_created(&token("full", 0), NOW);
        assert!(out.contains("scope full: it can do everything"), "{out}");
        assert!(out.contains("never expires"), "{out}");
        let out = describe_created(&token("read-only", NOW + 3600), NOW);
        assert!(out.contains("scope read-only; expires in 1 hour"), "{out}");
    }

    #[test]
    fn the_list_has_every_column_but_no_secret() {
        let out = render(&[token("read-only", NOW - 60)], NOW);
        assert_eq!(
            out,
            "ID       User  Name        Scope      Created    Last used  Expires\n\
             rt_4f2a  bob   monitoring  read-only  1 day ago  never      expired 1 minute ago\n"
        );
    }
}
