//! TLS to the store (`sslmode=verify-full sslrootcert=…`, src/tls.rs and
//! src/conninfo.rs) against a real PostgreSQL 15 with `ssl = on`: its
//! certificate made by `openssl`, signed by a test CA, naming localhost and
//! 127.0.0.1 (src/test_server.rs, `TcpListen::Tls`), its pg_hba.conf
//! taking TCP clients on `hostssl` lines only, so a TCP connection that
//! works is a TLS one. The right CA and name work (key=value and URI
//! forms, a multi-host string whose first host is down, SCRAM with
//! channel binding); a wrong CA, a name the certificate lacks and a
//! server without TLS are refused, never used in plain text; the weak
//! sslmodes are refused before any connection.

// Test code: a failed unwrap is a failed test (clippy's allow-*-in-tests
// covers #[test] functions only, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::error::Error;
use roster_store_postgres::test_server::{TcpListen, TestServer, free_port, make_test_ca};
use roster_store_postgres::{PgStore, failing_over};
use std::path::Path;

const NOW: i64 = 1_800_000_000;

/// `conninfo` with verify-full against `ca`.
fn verify_full(conninfo: &str, ca: &Path) -> String {
    format!(
        "{conninfo} sslmode=verify-full sslrootcert='{}'",
        ca.display()
    )
}

/// A write and a read through PgStore on `conninfo` (a fresh database:
/// the epoch is made once).
fn write_and_read(conninfo: &str) {
    let mut store = PgStore::open(conninfo).unwrap();
    let made = store.fleet_write(|tx| tx.init_epoch(NOW)).unwrap();
    let mut other = PgStore::attach(conninfo).unwrap();
    assert_eq!(
        other.fleet_read(|tx| tx.epoch()).unwrap().as_deref(),
        Some(made.as_str())
    );
    let mut reader = store.open_reader().unwrap();
    assert_eq!(reader.fleet_read(|tx| tx.epoch()).unwrap(), Some(made));
}

fn store_error(conninfo: &str) -> String {
    match PgStore::open(conninfo) {
        Ok(_) => panic!("connected: {conninfo}"),
        Err(error) => {
            assert!(
                matches!(error, Error::Store(_)),
                "a connection failure is a store error: {error:?}"
            );
            assert!(
                !failing_over(&error),
                "a TLS refusal isn't a failover to wait out: {error}"
            );
            // What the operator reads (shown with --nocapture).
            eprintln!("refused as it should be: {error}");
            error.to_string()
        }
    }
}

#[test]
fn verify_full_with_the_stores_ca_writes_and_reads() {
    let Some(server) = TestServer::shared_tls() else {
        return;
    };
    let database = server.database_for("tls_localhost");
    write_and_read(&verify_full(
        &server.tcp_conninfo("localhost", &database),
        &server.ca_file(),
    ));
    // By IP address: checked against the certificate's IP name.
    let database = server.database_for("tls_ip");
    write_and_read(&verify_full(
        &server.tcp_conninfo("127.0.0.1", &database),
        &server.ca_file(),
    ));
    // The TCP lines are hostssl only: plain TCP is turned away, so the
    // connections above were TLS ones.
    let plain: postgres::Config = server.tcp_conninfo("localhost", &database).parse().unwrap();
    let Err(refused) = plain.connect(postgres::NoTls) else {
        panic!("plain TCP got in");
    };
    let refused = refused.as_db_error().unwrap().message().to_string();
    assert!(refused.contains("no pg_hba.conf entry"), "{refused}");
}

#[test]
fn the_uri_form_takes_verify_full_too() {
    let Some(server) = TestServer::shared_tls() else {
        return;
    };
    let database = server.database_for("tls_uri");
    let ca = server.ca_file().display().to_string().replace('/', "%2F");
    write_and_read(&format!(
        "postgresql://postgres@localhost:{}/{database}?sslmode=verify-full&sslrootcert={ca}&connect_timeout=5",
        server.port()
    ));
}

#[test]
fn a_multi_host_string_skips_a_dead_first_host() {
    let Some(server) = TestServer::shared_tls() else {
        return;
    };
    let database = server.database_for("tls_multi");
    let conninfo = format!(
        "host=localhost,localhost port={},{} user=postgres dbname={database} target_session_attrs=read-write connect_timeout=2 sslmode=verify-full sslrootcert={}",
        free_port(),
        server.port(),
        server.ca_file().display()
    );
    write_and_read(&conninfo);
}

#[test]
fn scram_with_channel_binding_runs_over_verify_full() {
    let Some(server) = TestServer::shared_tls() else {
        return;
    };
    let user = roster_store_postgres::test_server::SCRAM_USER;
    let mut admin = server.admin();
    // Once per server (the tests share it): the role may exist already.
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN
                     CREATE ROLE {user} LOGIN PASSWORD 'a long secret';
                 END IF;
             END $$"
        ))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE tls_scram OWNER {user}"))
        .unwrap();
    let with = |password: &str| {
        verify_full(
            &format!(
                "host=localhost port={} user={user} password='{password}' dbname=tls_scram channel_binding=require",
                server.port()
            ),
            &server.ca_file(),
        )
    };
    // channel_binding=require: SCRAM-SHA-256-PLUS with the server
    // certificate's hash, which the server checks.
    write_and_read(&with("a long secret"));
    // A wrong password is refused, and the message doesn't carry it.
    let error = PgStore::open(&with("not the secret 1234"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("password authentication failed"), "{error}");
    assert!(!error.contains("not the secret 1234"), "{error}");
}

#[test]
fn a_ca_that_didnt_sign_the_certificate_is_refused() {
    let Some(server) = TestServer::shared_tls() else {
        return;
    };
    let other = tempfile::tempdir().unwrap();
    let wrong = make_test_ca(other.path(), "other");
    let message = store_error(&verify_full(
        &server.tcp_conninfo("localhost", "postgres"),
        &wrong,
    ));
    assert!(
        message.contains(&format!(
            "localhost's certificate isn't signed by the CA in {}",
            wrong.display()
        )),
        "{message}"
    );
}

#[test]
fn a_host_name_the_certificate_lacks_is_refused_per_host() {
    let Some(elsewhere) = TestServer::start_tcp(TcpListen::Tls {
        names: vec!["DNS:db.invalid".into()],
    }) else {
        return;
    };
    let Some(good) = TestServer::shared_tls() else {
        return;
    };
    let message = store_error(&verify_full(
        &elsewhere.tcp_conninfo("localhost", "postgres"),
        &elsewhere.ca_file(),
    ));
    assert!(
        message
            .contains("localhost's certificate doesn't name host localhost (it names db.invalid)"),
        "{message}"
    );
    // Each host is checked by its own name: the first refused, the next
    // (another server, the same CA file holding both CAs) taken.
    let both = tempfile::tempdir().unwrap();
    let cas = both.path().join("cas.pem");
    std::fs::write(
        &cas,
        [
            std::fs::read_to_string(elsewhere.ca_file()).unwrap(),
            std::fs::read_to_string(good.ca_file()).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let database = good.database_for("tls_per_host");
    write_and_read(&format!(
        "host=localhost,localhost port={},{} user=postgres dbname={database} sslmode=verify-full sslrootcert={} target_session_attrs=read-write",
        elsewhere.port(),
        good.port(),
        cas.display()
    ));
}

#[test]
fn a_server_without_tls_is_refused_never_used_in_plain_text() {
    let Some(server) = TestServer::start_tcp(TcpListen::Plain) else {
        return;
    };
    let ca = tempfile::tempdir().unwrap();
    let ca = make_test_ca(ca.path(), "store");
    let plain = server.tcp_conninfo("localhost", "postgres");
    let message = store_error(&verify_full(&plain, &ca));
    assert!(message.contains("takes no TLS connections"), "{message}");
    // The same string without sslmode: plain, as before.
    drop(PgStore::open(&plain).unwrap());
}

#[test]
fn weak_sslmodes_are_refused_before_connecting() {
    // No server needed: refused while reading the string.
    for (tail, says) in [
        (
            "sslmode=require sslrootcert=/x.pem",
            "checks no certificate",
        ),
        ("sslmode=verify-ca sslrootcert=/x.pem", "not the host name"),
        ("sslmode=prefer", "falls back to plain text"),
        ("sslmode=verify-full", "needs sslrootcert=FILE"),
    ] {
        let error = PgStore::open(&format!("host=localhost port=1 password=s3cret {tail}"))
            .err()
            .unwrap();
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(says), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}

/// Not a check, a measure (README figures): what a connection costs,
/// plain over the socket, plain over TCP, and verify-full over TCP,
/// each a `PgStore::attach` (connect + the schema check) as the
/// controller's pool opens one. Run:
/// `cargo test -p roster-store-postgres --test tls -- --ignored --nocapture connect_times`
/// (the dev profile builds rustls, ring and postgres at opt-level 2).
#[test]
#[ignore]
fn connect_times() {
    const CONNECTIONS: u32 = 300;
    let Some(plain) = TestServer::start_tcp(TcpListen::Plain) else {
        return;
    };
    let Some(tls) = TestServer::shared_tls() else {
        return;
    };
    let socket = plain.conninfo_for("connect_socket");
    let database = plain.database_for("connect_tcp");
    let tcp = plain.tcp_conninfo("localhost", &database);
    let database = tls.database_for("connect_tls");
    let verified = verify_full(&tls.tcp_conninfo("localhost", &database), &tls.ca_file());
    for (what, conninfo) in [
        ("plain, unix socket", socket),
        ("plain, TCP", tcp),
        ("verify-full, TCP", verified),
    ] {
        let parsed = roster_store_postgres::StoreConninfo::parse(&conninfo).unwrap();
        drop(PgStore::open_with(&parsed).unwrap());
        let mut each = Vec::new();
        for _ in 0..CONNECTIONS {
            let started = std::time::Instant::now();
            drop(PgStore::attach_with(&parsed).unwrap());
            each.push(started.elapsed());
        }
        each.sort();
        let total: std::time::Duration = each.iter().sum();
        println!(
            "{what}: {CONNECTIONS} connections, mean {:?}, p50 {:?}, p99 {:?}",
            total / CONNECTIONS,
            each[each.len() / 2],
            each[each.len() * 99 / 100]
        );
    }
}
