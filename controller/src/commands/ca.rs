//! `roster-controller ca rotate|fingerprint`.

use crate::config::ControllerConfig;
use crate::error::Fail;
use crate::pki::CaBundle;
use std::time::SystemTime;

pub fn rotate(config: &ControllerConfig) -> Result<(), Fail> {
    let bundle = CaBundle::rotate(&config.tls.ca_dir, SystemTime::now()).map_err(Fail::pki)?;
    println!(
        "The new CA {} signs from now on; hosts pick it up at their next renewal. The old one stays trusted until dropped.",
        bundle.signing.fingerprint()
    );
    println!("Copy {} to every replica.", config.tls.ca_dir.display());
    Ok(())
}

pub fn fingerprint(config: &ControllerConfig) -> Result<(), Fail> {
    let bundle = CaBundle::load(&config.tls.ca_dir).map_err(Fail::pki)?;
    println!("{}", bundle.signing.fingerprint());
    Ok(())
}
