//! Provisioning from a shell script with `zenoauth org|user|app|role …`,
//! then using what it made through the admin API of `zenoauth serve`.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::security_support::{login, new_browser};
use crate::support::{client, zenoauth, ServeProcess};

/// The script an operator would write: bootstrap, a service account with
/// platform-admin, an organization with roles, a user and an application.
const PROVISION: &str = r#"
set -euo pipefail
z() { "$ZENOAUTH_BIN" "$@"; }
z bootstrap 2>/dev/null
z bootstrap 2>/dev/null
z app create --org system --client-id provisioner --name Provisioner \
  --scope zenoauth:admin --grant client_credentials --role platform-admin
z org create --slug acme --name "Acme Corp" >/dev/null
z role create --org acme --name org-admin >/dev/null
z role create --org acme --name reader --permission doc:read --permission doc:list >/dev/null
ALICE_PW='a long passphrase' z user create --org acme --email Alice@Example.com --password-env ALICE_PW --verified --role reader >/dev/null
z role assign --org acme --role org-admin --user alice@example.com >/dev/null
z app create --org acme --client-id acme-web --name "Acme Web" --redirect-uri https://acme.example.com/cb --scope openid >/dev/null
echo "--- lists"
z org list
z user list --org acme
z app list --org acme
z role list --org acme
z role list --org system
"#;

fn value<'a>(output: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    output.lines().find_map(|line| line.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {key}= in {output}"))
}

#[tokio::test]
async fn a_shell_script_provisions_a_server_that_the_admin_api_then_serves() {
    let directory = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg("-c")
        .arg(PROVISION)
        .current_dir(directory.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ZENOAUTH_BIN", env!("CARGO_BIN_EXE_zenoauth"))
        .env("ZENOAUTH_LOG_FORMAT", "json")
        .env("ZENOAUTH_LOG_LEVEL", "warn")
        .env("ZENOAUTH_ARGON2_MEMORY_KIB", "1024")
        .env("ZENOAUTH_ARGON2_ITERATIONS", "1")
        .env("ZENOAUTH_ARGON2_PARALLELISM", "1")
        .env("ZENOAUTH_BOOTSTRAP_ADMIN_EMAIL", "root@example.com")
        .env("ZENOAUTH_BOOTSTRAP_ADMIN_PASSWORD", "correct horse battery staple")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    let secret = value(&stdout, "client_secret").to_owned();
    assert!(secret.starts_with("zcs_"));
    let lists = stdout.split("--- lists").nth(1).unwrap();
    assert!(lists.contains("\tacme\tAcme Corp"), "{lists}");
    assert!(lists.contains("\talice@example.com\tactive"), "{lists}");
    assert!(lists.contains("\tacme-web\tconfidential\tAcme Web"), "{lists}");
    assert!(lists.contains("\treader\tdoc:list doc:read"), "{lists}");
    // bootstrap made the platform-admin role once, though it ran twice.
    assert_eq!(lists.matches("\tplatform-admin\t").count(), 1, "{lists}");

    // The server over the same database, driven with HTTP alone.
    let mut command = zenoauth(directory.path());
    command.env("ZENOAUTH_BIND", "127.0.0.1:0");
    let mut server = ServeProcess::spawn(command);
    let address = server.address().await;
    let base = format!("http://{address}");
    let token: Value = client()
        .post(format!("{base}/o/system/token"))
        .basic_auth("provisioner", Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "zenoauth:admin")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().unwrap_or_else(|| panic!("{token}"));
    let get = |path: String| {
        let request = client().get(format!("{base}/api/v1{path}")).bearer_auth(access_token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let organizations = get("/organizations".to_owned()).await;
    let acme = organizations["items"].as_array().unwrap().iter().find(|o| o["slug"] == "acme").unwrap().clone();
    let acme_id = acme["id"].as_str().unwrap();
    let users = get(format!("/organizations/{acme_id}/users?email_prefix=alice")).await;
    let alice = &users["items"][0];
    assert_eq!(alice["email_verified"], true);
    assert_eq!(alice["has_password"], true);
    let roles = get(format!("/organizations/{acme_id}/users/{}/roles", alice["id"].as_str().unwrap())).await;
    let names: Vec<&str> =
        roles["items"].as_array().unwrap().iter().map(|role| role["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["org-admin", "reader"]);
    let created = client()
        .post(format!("{base}/api/v1/organizations/{acme_id}/users"))
        .bearer_auth(access_token)
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // The bootstrap admin holds platform-admin (seen through the API too).
    let system = organizations["items"].as_array().unwrap().iter().find(|o| o["slug"] == "system").unwrap().clone();
    let system_id = system["id"].as_str().unwrap();
    let root = get(format!("/organizations/{system_id}/users?email_prefix=root")).await;
    let root_roles =
        get(format!("/organizations/{system_id}/users/{}/roles", root["items"][0]["id"].as_str().unwrap())).await;
    assert_eq!(root_roles["items"][0]["name"], "platform-admin");

    // Guessing locks alice (default threshold 5) through the real login form;
    // `zenoauth user unlock` lifts it, audited with actor `cli`.
    let login_url = format!("{base}/o/acme/login");
    let alice_login = |password: &'static str| {
        let login_url = login_url.clone();
        async move { login(&new_browser(), &login_url, "alice@example.com", password).await.0 }
    };
    for guess in ["123456", "password", "qwerty", "letmein", "dragon"] {
        assert_eq!(alice_login(guess).await, 401);
    }
    assert_eq!(alice_login("a long passphrase").await, 401, "locked: the right password is refused");
    // One line of output (besides JSON log lines, e.g. the key-file warning).
    let output_line = |output: &std::process::Output| {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let lines: Vec<String> = stdout.lines().filter(|line| !line.starts_with('{')).map(str::to_owned).collect();
        assert_eq!(lines.len(), 1, "{stdout}");
        lines[0].clone()
    };
    let unlock = || {
        zenoauth(directory.path())
            .args(["user", "unlock", "--org", "acme", "--email", "Alice@Example.com"])
            .output()
            .unwrap()
    };
    let output = unlock();
    assert!(output.status.success(), "{}", crate::support::stderr(&output));
    assert_eq!(output_line(&output), format!("unlocked={}", alice["id"].as_str().unwrap()));
    assert_eq!(alice_login("a long passphrase").await, 200);
    let output = unlock();
    assert_eq!(output_line(&output), format!("not_locked={}", alice["id"].as_str().unwrap()));
    let unlocked = get(format!("/organizations/{acme_id}/audit-events?type=login.unlocked")).await;
    let unlocked = unlocked["items"].as_array().unwrap();
    assert_eq!(unlocked.len(), 1, "{unlocked:?}");
    assert_eq!(unlocked[0]["actor"], "cli");
    assert_eq!(unlocked[0]["subject"], "account:alice@example.com");
    assert!(server.terminate(Duration::from_secs(10)).await.success());
}

#[test]
fn cli_mistakes_are_one_line_errors() {
    let directory = tempfile::tempdir().unwrap();
    let output =
        zenoauth(directory.path()).args(["org", "create", "--slug", "Bad Slug", "--name", "x"]).output().unwrap();
    let line = crate::support::assert_one_line_error(&output);
    assert!(line.contains("--slug"), "{line}");
    let output = zenoauth(directory.path()).args(["user", "list", "--org", "nope"]).output().unwrap();
    let line = crate::support::assert_one_line_error(&output);
    assert!(line.contains("no organization has the slug"), "{line}");
}
