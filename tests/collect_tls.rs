//! TLS as real servers speak it, on loopback: the test TDS server with certificates made at test
//! time (a trusted test CA through SSL_CERT_FILE, self-signed, wrong name, expired, a stalled
//! handshake, forced encryption), collected by real tiberius over real TCP. The errors are
//! AgDiag's own: which instance, which name was tried, what is wrong, what to do.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;
#[path = "support/certs.rs"]
mod certs;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agdiag::collect::{Request, StaticResolver};
use agdiag::snapshot::{Instance, Snapshot};
use fixture::*;
use serde_json::{json, Value};
use tds_server::TlsSetup;

/// The healthy AG with these certificates per replica (`None`: no TLS at all).
fn ag_with(tls: &[(&str, Option<TlsSetup>)]) -> Ag {
    let mut scenario = healthy_scenario();
    for (name, setup) in tls {
        scenario.set_tls(name, setup.clone());
    }
    Ag::start(&scenario)
}

/// `localhost,<port>`: the name the certificates are issued for.
fn local(ag: &Ag, name: &str) -> String {
    format!("localhost,{}", ag.server(name).addr().port())
}

fn request(ag: &Ag, given: &[&str], encrypt: &str, trust: bool, discover: bool) -> Value {
    let overrides: serde_json::Map<String, Value> =
        ag.servers.iter().map(|(n, _)| (n.clone(), Value::from(local(ag, n)))).collect();
    json!({
        "instances": given.iter().map(|n| local(ag, n)).collect::<Vec<_>>(),
        "authentication": { "method": "sql", "user": "agdiag", "password": SENTINEL },
        "encrypt": encrypt,
        "trust_server_certificate": trust,
        "timeouts": { "connect_ms": 2000, "login_ms": 2000, "command_ms": 3000, "probe_ms": 500 },
        "discover_replicas": discover,
        "overrides": overrides,
        "probes": false,
    })
}

fn collect(request: Value) -> Snapshot {
    let request = Request::from_json(&request.to_string()).expect("valid request");
    agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).expect("collect").snapshot
}

fn error_of(instance: &Instance) -> String {
    assert!(!instance.connected, "{} connected", instance.target);
    let message = instance.connect_error.as_ref().expect("a connect error").message.clone();
    assert!(!message.contains(SENTINEL), "{message}");
    // None of the TDS library's own advice, nor a date in UNIX seconds.
    for foreign in ["Config::", "trust_cert_ca", "native-tls", "(UNIX)", "webpki"] {
        assert!(!message.contains(foreign), "{foreign:?} in: {message}");
    }
    message
}

/// Each needle is in `message`, however the table wrapped its lines.
fn assert_mentions(message: &str, needles: &[&str]) {
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in needles {
        assert!(flat.contains(needle), "{needle:?} missing from: {message}");
    }
}

const ADVICE: [&str; 3] = ["--trust-server-certificate", "man in the middle", "SSL_CERT_FILE"];

#[test]
fn a_certificate_from_a_trusted_ca_for_the_name_connects() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.server(&["localhost"], None)))]);
    let snap = collect(request(&ag, &["SQL1"], "mandatory", false, false));
    let sql1 = &snap.instances[0];
    assert!(sql1.connected, "{:?}", sql1.connect_error);
    assert_eq!(sql1.server_name(), Some("SQL1"));
    assert_eq!(ag.server("SQL1").logins().len(), 1);
}

#[test]
fn a_self_signed_certificate_is_named_with_the_advice_and_trust_makes_it_connect() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.self_signed(&["localhost", "sql1.contoso.com"])))]);
    let target = local(&ag, "SQL1");
    let snap = collect(request(&ag, &["SQL1"], "mandatory", false, false));
    let message = error_of(&snap.instances[0]);
    assert_mentions(&message, &[&target, "for the name localhost", "self-signed", "sql1.contoso.com"]);
    assert_mentions(&message, &ADVICE);
    assert!(ag.server("SQL1").logins().is_empty(), "no login over an unvalidated channel");

    let snap = collect(request(&ag, &["SQL1"], "mandatory", true, false));
    assert!(snap.instances[0].connected, "{:?}", snap.instances[0].connect_error);
    assert_eq!(snap.collection.as_ref().unwrap()["trust_server_certificate"], true);
}

#[test]
fn a_certificate_for_another_name_lists_the_names_it_is_valid_for() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.server(&["sql9.contoso.com", "sql9"], None)))]);
    let snap = collect(request(&ag, &["SQL1"], "mandatory", false, false));
    let message = error_of(&snap.instances[0]);
    assert_mentions(&message, &["not valid for the name localhost", "valid for sql9.contoso.com, sql9", "--override"]);
    assert_mentions(&message, &["--trust-server-certificate", "man in the middle"]);
    assert!(!message.contains("self-signed") && !message.contains("does not trust"), "{message}");
}

#[test]
fn an_expired_certificate_gives_its_date() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.server(&["localhost"], Some((2020, 2021)))))]);
    let snap = collect(request(&ag, &["SQL1"], "mandatory", false, false));
    let message = error_of(&snap.instances[0]);
    assert_mentions(&message, &["for the name localhost", "expired on 2021-01-01 00:00:00 UTC", "renew"]);
    assert_mentions(&message, &["--trust-server-certificate", "man in the middle"]);
}

#[test]
fn a_stalled_tls_handshake_ends_at_the_login_timeout_with_a_clear_error() {
    let pki = certs::trust_test_ca();
    let mut setup = pki.server(&["localhost"], None);
    setup.stall_handshake = true;
    let ag = ag_with(&[("SQL1", Some(setup))]);
    let mut req = request(&ag, &["SQL1"], "mandatory", false, false);
    req["timeouts"]["login_ms"] = 800.into();
    let started = Instant::now();
    let snap = collect(req);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let message = error_of(&snap.instances[0]);
    assert_mentions(&message, &["TLS handshake", "800 ms", "--login-timeout-ms", &local(&ag, "SQL1")]);
}

#[test]
fn encrypt_off_against_a_server_that_forces_encryption_validates_and_accepts_trust() {
    let pki = certs::trust_test_ca();
    let mut setup = pki.self_signed(&["localhost"]);
    setup.force = true;
    let ag = ag_with(&[("SQL1", Some(setup))]);
    let snap = collect(request(&ag, &["SQL1"], "off", false, false));
    let message = error_of(&snap.instances[0]);
    assert_mentions(&message, &["self-signed", "--trust-server-certificate"]);
    // The combination is accepted, and the whole session is encrypted with the server's certificate.
    let snap = collect(request(&ag, &["SQL1"], "off", true, false));
    assert!(snap.instances[0].connected, "{:?}", snap.instances[0].connect_error);
    assert_eq!(snap.collection.as_ref().unwrap()["encrypt"], "off");
}

#[test]
fn a_discovered_replica_is_named_with_the_address_tried() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[
        ("SQL1", Some(pki.server(&["localhost"], None))),
        ("SQL2", Some(pki.self_signed(&["sql2.contoso.com"]))),
        ("SQL3", Some(pki.server(&["localhost"], None))),
    ]);
    let snap = collect(request(&ag, &["SQL1"], "mandatory", false, true));
    assert_eq!(snap.instances.len(), 3);
    let sql2 = snap.instances.iter().find(|i| i.target == local(&ag, "SQL2")).expect("SQL2 collected");
    let message = error_of(sql2);
    assert_mentions(&message, &[&format!("SQL2 (reached as {})", local(&ag, "SQL2")), "self-signed", "sql2.contoso.com"]);
    assert!(snap.instances.iter().filter(|i| i.connected).count() == 2);
}

#[test]
fn tds8_strict_validates_the_certificate_before_prelogin_and_explains_a_rejection() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.server(&["localhost"], None))), ("SQL2", Some(pki.server(&["sql2.contoso.com"], None)))]);
    let snap = collect(request(&ag, &["SQL1"], "strict", false, false));
    assert!(snap.instances[0].connected, "{:?}", snap.instances[0].connect_error);
    assert_eq!(snap.instances[0].server_name(), Some("SQL1"));
    let snap = collect(request(&ag, &["SQL2"], "strict", false, false));
    let message = error_of(&snap.instances[0]);
    assert_mentions(&message, &["not valid for the name localhost", "valid for sql2.contoso.com"]);
}

#[test]
fn encrypt_off_encrypts_the_login_and_validates_the_certificate_for_it() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.self_signed(&["localhost"]))), ("SQL2", Some(pki.server(&["localhost"], None)))]);
    // Login-only encryption still needs a certificate this machine trusts...
    let snap = collect(request(&ag, &["SQL1"], "off", false, false));
    assert_mentions(&error_of(&snap.instances[0]), &["self-signed", "--trust-server-certificate"]);
    assert!(ag.server("SQL1").logins().is_empty());
    // ...or the opt-in; then the login goes encrypted and the batch in clear text.
    let snap = collect(request(&ag, &["SQL1"], "off", true, false));
    assert!(snap.instances[0].connected, "{:?}", snap.instances[0].connect_error);
    assert_eq!(snap.instances[0].server_name(), Some("SQL1"));
    let snap = collect(request(&ag, &["SQL2"], "off", false, false));
    assert!(snap.instances[0].connected, "{:?}", snap.instances[0].connect_error);
    assert_eq!(ag.server("SQL2").logins().len(), 1);
}

#[test]
fn encrypt_none_talks_to_a_server_without_tls_and_off_does_not() {
    let ag = ag_with(&[]);
    let snap = collect(request(&ag, &["SQL1"], "none", false, false));
    assert!(snap.instances[0].connected, "{:?}", snap.instances[0].connect_error);
    let snap = collect(request(&ag, &["SQL1"], "off", false, false));
    assert!(!snap.instances[0].connected, "the login must not go in clear text");
}

fn agdiag_check(ag: &Ag, extra: &[&str]) -> (Option<i32>, String, String) {
    agdiag_check_trusting(ag, extra, &certs::trust_test_ca().ca_file)
}

fn agdiag_check_trusting(ag: &Ag, extra: &[&str], ca_file: &std::path::Path) -> (Option<i32>, String, String) {
    let mut args: Vec<String> =
        vec!["check".into(), "-S".into(), local(ag, "SQL1"), "-U".into(), "agdiag".into(), "--password-env".into(), "AGDIAG_TEST_PW".into()];
    args.extend(["--no-probes".into(), "--login-timeout-ms".into(), "2000".into()]);
    for name in ["SQL2", "SQL3"] {
        args.extend(["--override".into(), format!("{name}={}", local(ag, name))]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(env!("CARGO_BIN_EXE_agdiag"))
        .args(&args)
        .env("AGDIAG_TEST_PW", SENTINEL)
        .env("SSL_CERT_FILE", ca_file)
        .env_remove("SSL_CERT_DIR")
        .output()
        .expect("run agdiag");
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string());
    assert!(!stdout.contains(SENTINEL) && !stderr.contains(SENTINEL));
    (o.status.code(), stdout, stderr)
}

#[test]
fn cli_check_names_an_unreachable_replica_once() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[
        ("SQL1", Some(pki.server(&["localhost"], None))),
        ("SQL2", Some(pki.self_signed(&["sql2.contoso.com"]))),
        ("SQL3", Some(pki.server(&["localhost"], None))),
    ]);
    let (_, stdout, _) = agdiag_check(&ag, &[]);
    assert_eq!(stdout.matches("self-signed").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("--trust-server-certificate").count(), 1, "{stdout}");
    let line = format!("  SQL2 (reached as {}): the server's TLS certificate was rejected", local(&ag, "SQL2"));
    assert!(stdout.contains(&line), "{stdout}");
}

#[test]
fn cli_check_when_every_replica_fails_validation_says_what_trust_costs() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[
        ("SQL1", Some(pki.self_signed(&["sql1.contoso.com"]))),
        ("SQL2", Some(pki.self_signed(&["sql2.contoso.com"]))),
        ("SQL3", Some(pki.self_signed(&["sql3.contoso.com"]))),
    ]);
    let (code, stdout, stderr) = agdiag_check(&ag, &[]);
    assert_eq!(code, Some(2), "nothing could be evaluated: {stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert_mentions(&all, &["every instance", "--trust-server-certificate", "man in the middle"]);
    // The error is printed once; the 32 checks it stopped say so by the instance's name.
    assert_eq!(stdout.matches("self-signed").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("--trust-server-certificate").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("instance not connected (see \"Not connected\" above)").count(), 1, "{stdout}");
    let (code, stdout, stderr) = agdiag_check(&ag, &["--trust-server-certificate"]);
    assert_ne!(code, Some(2), "{stdout}{stderr}");
}

#[test]
fn cli_check_with_no_trusted_ca_at_all_says_so() {
    let pki = certs::trust_test_ca();
    let ag = ag_with(&[("SQL1", Some(pki.server(&["localhost"], None)))]);
    let empty = std::env::temp_dir().join(format!("agdiag-no-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let (code, stdout, stderr) = agdiag_check_trusting(&ag, &["--no-discover"], &empty);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert_mentions(&stdout, &["trusts no certificate authority", "SSL_CERT_FILE", "--trust-server-certificate", "man in the middle"]);
}

#[test]
fn a_discovered_replica_is_reached_by_its_fqdn_and_keeps_its_name_in_the_snapshot() {
    certs::trust_test_ca();
    let ag = ag_with(&[]);
    let mut req = request(&ag, &["SQL1"], "none", false, true);
    // No override for SQL3: it is reached by the FQDN its endpoint URL names (which does not
    // resolve here), and the snapshot still calls it SQL3.
    req["overrides"].as_object_mut().unwrap().retain(|name, _| name != "SQL3");
    req["timeouts"]["connect_ms"] = 1000.into();
    let snap = collect(req);
    let sql3 = snap.instances.iter().find(|i| i.target == "SQL3").expect("SQL3 by its replica name");
    let message = error_of(sql3);
    assert_mentions(&message, &["SQL3 (reached as sql3.contoso.com): ", "sql3.contoso.com"]);
    assert!(sql3.is_named("SQL3"));
}
