//! `roster-controller`: see the crate's library for the parts.

use clap::Parser;
use roster_controller::args::{
    Args, CaCommand, Command, EnvironmentsCommand, HostsCommand, SecretsCommand, TokenCommand,
};
use roster_controller::commands::{ca, environments, hosts, init, restore, secrets, token};
use roster_controller::config::ControllerConfig;
use roster_controller::error::Fail;
use roster_controller::server;
use roster_controller::store::Store;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster-controller: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Fail> {
    if let Some(dir) = &args.generate_man {
        let page = roster_controller::args::write_man_page(dir).map_err(Fail::io(format!(
            "{}: writing roster-controller.8",
            dir.display()
        )))?;
        println!("{}", page.display());
        return Ok(());
    }
    let config = ControllerConfig::load(&args.config)?;
    if args.check_config {
        println!("{}: the config is valid", args.config.display());
        return Ok(());
    }
    let Some(command) = args.command else {
        return Err(Fail::Usage(
"say what to do: init, serve, token, hosts, environments, restore, ca or secrets (see --help)"
                .into(),
        ));
    };
    let store = || Store::open(&config.store.conninfo, config.rules());
    match command {
        Command::Init(init) => init::run(&config, &init),
        Command::Serve => server::serve(config),
        Command::Token(TokenCommand::Create {
            environment,
            expires,
        }) => token::create(&*store()?, &environment, &expires),
        Command::Token(TokenCommand::List) => token::list(&*store()?),
        Command::Token(TokenCommand::Delete { id }) => token::delete(&*store()?, &id),
        Command::Hosts(HostsCommand::List { environment }) => {
            hosts::list(&*store()?, environment.as_deref())
        }
        Command::Hosts(HostsCommand::Revoke { host }) => hosts::revoke(&*store()?, &host),
        Command::Environments(EnvironmentsCommand::Set {
            environment,
            settings,
        }) => environments::set(&*store()?, &environment, &settings),
        Command::Environments(EnvironmentsCommand::List) => environments::list(&*store()?),
        Command::Restore(restore) => restore::run(&*store()?, &restore),
        Command::Ca(CaCommand::Rotate) => ca::rotate(&config),
        Command::Ca(CaCommand::Fingerprint) => ca::fingerprint(&config),
        Command::Secrets(SecretsCommand::Rekey) => secrets::rekey(&*store()?),
    }
}
