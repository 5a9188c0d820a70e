//! `roster-controller` on a store reached over TLS: its `[store] conninfo`
//! says `sslmode=verify-full sslrootcert=…` (as packaging/ha/controller.toml
//! does), the store a PostgreSQL 15 with `ssl = on` taking TCP clients on
//! `hostssl` lines only (roster-store-postgres's test server). `init`,
//! `token create`, `serve`, an enrollment and a host's call all go through
//! it; a weak sslmode is refused before anything starts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{CHEAP_ARGON2, Controller, TEST_LIMITS};
use roster_store_postgres::test_server::{LOCAL_NAMES, TcpListen, TestServer};

#[test]
fn a_controller_whose_store_is_verify_full_serves_hosts() {
    let Some(server) = TestServer::start_tcp(TcpListen::Tls {
        names: LOCAL_NAMES.iter().map(|name| name.to_string()).collect(),
    }) else {
        return;
    };
    let database = server.database_for("controller_tls");
    let conninfo = format!(
        "{} sslmode=verify-full sslrootcert={}",
        server.tcp_conninfo("localhost", &database),
        server.ca_file().display()
    );
    // init (the schema, the epoch, the first admin) and serve, over TLS.
    let controller = Controller::start_on_store(conninfo.clone(), TEST_LIMITS, CHEAP_ARGON2);
    let (host, enrolled) = controller.enroll("default", "web-1");
    assert_eq!(enrolled["hostname"], "web-1");
    let hello = controller.call("GET", "/v1/hello", None, Some(&host));
    assert_eq!(hello.status, 200, "{}", hello.json);
    assert_eq!(hello.json["body"]["hostname"], "web-1");

    // The same store asked with sslmode=require: refused, saying what to write.
    let config = std::fs::read_to_string(controller.config()).unwrap();
    std::fs::write(
        controller.config(),
        config.replace("sslmode=verify-full", "sslmode=require"),
    )
    .unwrap();
    let refused = controller.command(&["hosts", "list"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    eprintln!("refused as it should be: {stderr}");
    assert!(
        stderr.contains("sslmode=require") && stderr.contains("write sslmode=verify-full"),
        "{stderr}"
    );
}
