//! The real `zenoauth` binary in a temporary directory on SQLite, and its
//! answers to operator mistakes.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::Connection;

use crate::support::{assert_one_line_error, client, stderr, zenoauth, ServeProcess};

#[tokio::test]
async fn serve_bootstraps_serves_and_stops_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    let mut command = zenoauth(directory.path());
    command.env("ZENOAUTH_BIND", "127.0.0.1:0").env("ZENOAUTH_SHUTDOWN_TIMEOUT_SECONDS", "5");
    let mut server = ServeProcess::spawn(command);
    let address = server.address().await;

    let response =
        client().get(format!("http://{address}/readyz")).header("x-request-id", "it-readyz-1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let hint = server.stderr.wait_for("the login hint", |text| text.contains("password:")).await;
    assert!(hint.contains("ZenoAuth is bootstrapped"), "{hint}");
    assert!(hint.contains(&format!("issuer:   http://{address}/o/system")), "{hint}");
    assert!(hint.contains("email:    admin@localhost"), "{hint}");
    let password = hint.lines().find_map(|line| line.trim().strip_prefix("password: ")).unwrap();
    assert_eq!(password.len(), 24, "{hint}");
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()), "{hint}");

    // The log is JSON and every line of the request names its id.
    let log = server.stdout.wait_for("the request log", |text| text.contains("it-readyz-1")).await;
    for line in log.lines() {
        let _: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    assert!(log.lines().any(|line| line.contains("/readyz") && line.contains("it-readyz-1")), "{log}");
    assert!(!log.contains(password), "the generated password must not reach the log");

    let status = server.terminate(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}; stderr: {}", server.stderr.text());
    assert!(directory.path().join("zenoauth.db").exists());
    assert!(directory.path().join("zenoauth.kek").exists());

    // A second start finds the system organization and bootstraps nothing.
    let mut command = zenoauth(directory.path());
    command.env("ZENOAUTH_BIND", "127.0.0.1:0");
    let mut again = ServeProcess::spawn(command);
    let address = again.address().await;
    assert_eq!(client().get(format!("http://{address}/readyz")).send().await.unwrap().status(), StatusCode::OK);
    assert!(again.terminate(Duration::from_secs(10)).await.success());
    assert!(!again.stderr.text().contains("password:"), "{}", again.stderr.text());
}

#[test]
fn bootstrap_is_idempotent() {
    let directory = tempfile::tempdir().unwrap();
    let first = zenoauth(directory.path()).arg("bootstrap").output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stderr(&first);
    assert!(text.contains("ZenoAuth is bootstrapped"), "{text}");
    assert!(text.contains("issuer:   http://127.0.0.1:8080/o/system"), "{text}");
    assert!(text.contains("(generated; shown only this once"), "{text}");

    let second = zenoauth(directory.path()).arg("bootstrap").output().unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stderr(&second);
    assert!(text.contains("already bootstrapped; nothing was created"), "{text}");
    assert!(text.contains("password: unchanged"), "{text}");
}

#[test]
fn bootstrap_with_a_configured_password_prints_no_password() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path())
        .arg("bootstrap")
        .env("ZENOAUTH_BOOTSTRAP_ADMIN_EMAIL", "Root@Example.COM")
        .env("ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD", "correct horse battery staple")
        .env("ZENOAUTH_PUBLIC_URL", "http://localhost:9999/")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("issuer:   http://localhost:9999/o/system"), "{text}");
    assert!(text.contains("email:    root@example.com"), "{text}");
    assert!(text.contains("the configured bootstrap.admin_password"), "{text}");
    assert!(!text.contains("correct horse"), "{text}");
}

#[test]
fn openapi_prints_the_document() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path()).arg("openapi").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let spec: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[test]
fn malformed_database_url_is_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path()).arg("migrate").env("DATABASE_URL", "postgres://:::").output().unwrap();
    let line = assert_one_line_error(&output);
    assert!(line.starts_with("error: invalid setting database.url (DATABASE_URL): "), "{line}");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn unknown_database_scheme_is_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path())
        .arg("serve")
        .env("DATABASE_URL", "mysql://root:hunter2@db/zenoauth")
        .output()
        .unwrap();
    let line = assert_one_line_error(&output);
    assert_eq!(
        line,
        r#"error: invalid setting database.url (DATABASE_URL): unsupported scheme "mysql" (use postgres:// or sqlite://)"#
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn unreachable_postgres_fails_fast_with_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let started = tokio::time::Instant::now();
    let output = zenoauth(directory.path())
        .arg("serve")
        .env("DATABASE_URL", "postgres://postgres:pw-not-shown@127.0.0.1:1/x")
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let line = assert_one_line_error(&output);
    assert!(
        line.starts_with("error: cannot open the database: cannot reach the PostgreSQL database: 127.0.0.1:1/x"),
        "{line}"
    );
    assert!(!line.contains("pw-not-shown"), "{line}");
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_version_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let migrated = zenoauth(directory.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let url = format!("sqlite://{}", directory.path().join("zenoauth.db").display());
    let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, X'00', 0)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();

    let output = zenoauth(directory.path()).arg("migrate").output().unwrap();
    let line = assert_one_line_error(&output);
    assert_eq!(
        line,
        "error: cannot migrate the database: the database was migrated by a newer ZenoAuth \
         (migration 99990101000000 is unknown to this version)"
    );
}

#[test]
fn unknown_config_keys_are_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("zenoauth.toml");
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:0\"\nlisten = \"0.0.0.0:80\"\n").unwrap();
    let output = zenoauth(directory.path()).arg("--config").arg(&file).arg("serve").output().unwrap();
    let line = assert_one_line_error(&output);
    assert!(
        line.starts_with(&format!("error: invalid config file {}, line 3: unknown field `listen`", file.display())),
        "{line}"
    );
    assert_eq!(output.status.code(), Some(2));

    // The same through ZENOAUTH_CONFIG.
    let output = zenoauth(directory.path()).arg("serve").env("ZENOAUTH_CONFIG", &file).output().unwrap();
    assert!(assert_one_line_error(&output).contains("unknown field `listen`"));
}

#[test]
fn a_missing_config_file_is_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path()).args(["--config", "nope.toml", "migrate"]).output().unwrap();
    assert!(assert_one_line_error(&output).starts_with("error: cannot read config file nope.toml: "));
}

#[test]
fn a_public_url_without_a_key_encryption_key_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path())
        .arg("serve")
        .env("ZENOAUTH_PUBLIC_URL", "https://auth.example.com")
        .output()
        .unwrap();
    let line = assert_one_line_error(&output);
    assert_eq!(
        line,
        "error: key_encryption_key is required when public_url is not a loopback address (set ZENOAUTH_KEY_ENCRYPTION_KEY)"
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(!directory.path().join("zenoauth.kek").exists());
    assert!(!directory.path().join("zenoauth.db").exists());
}

#[test]
fn a_bad_bind_address_is_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path()).arg("serve").env("ZENOAUTH_BIND", "x").output().unwrap();
    assert_eq!(
        assert_one_line_error(&output),
        r#"error: invalid setting server.bind (ZENOAUTH_BIND): "x" is not a socket address"#
    );
}

#[test]
fn a_port_in_use_is_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = zenoauth(directory.path()).arg("serve").env("ZENOAUTH_BIND", &address).output().unwrap();
    let line = assert_one_line_error(&output);
    assert!(line.starts_with(&format!("error: cannot listen on {address}: ")), "{line}");
    assert_eq!(output.status.code(), Some(1));
}
