//! Shared helpers: an in-process server on 127.0.0.1:0 and a `zenoauth`
//! process in a temporary directory.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use zenoauth_crypto::{Argon2Hasher, Argon2Params, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ports::{RandomSource, Stores};
use zenoauth_server::clock::SystemClock;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::{app, serve, AppState, ReadinessCheck};
use zenoauth_server::services::Services;

/// Real adapters with cheap Argon2 parameters and a fresh key-encryption key.
pub fn test_services() -> Services {
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
    let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
    let kek = KeyEncryptionKey::generate(random.as_ref());
    Services::with_key(Arc::new(SystemClock), random, hasher, kek)
}

/// State over `stores` with test services; [`TestServer::start`] sets the
/// public URL to the address it binds.
pub fn test_state(stores: Stores, readiness: Arc<dyn ReadinessCheck>) -> AppState {
    let placeholder = PublicUrl::parse("http://127.0.0.1").unwrap();
    AppState::new(stores, readiness, test_services(), placeholder)
}

/// The server running in this process; stops when dropped.
pub struct TestServer {
    pub address: SocketAddr,
    /// The public URL (`http://{address}`, or on a host name, see [`TestServer::start_on`]).
    base: String,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(state: AppState) -> Self {
        Self::start_on(state, None).await
    }

    /// As [`TestServer::start`], with the public URL on `host` (e.g.
    /// `localhost`: WebAuthn needs a domain as relying party, not an IP address).
    pub async fn start_on(state: AppState, host: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let public_url = match host {
            Some(host) => PublicUrl::parse(&format!("http://{host}:{}", address.port())).unwrap(),
            None => PublicUrl::from_socket_addr(address),
        };
        let base = public_url.as_str().to_owned();
        let state = state.with_public_url(public_url);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            app(state),
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        Self { address, base, stop: Some(stop) }
    }

    /// Begins a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn client() -> reqwest::Client {
    zenoauth_server::install_tls_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// `zenoauth` in `directory` with a clean environment: cheap Argon2 so tests
/// stay fast, JSON logs, and backtraces on so that a leaked one would show.
pub fn zenoauth(directory: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zenoauth"));
    command
        .current_dir(directory)
        .env_clear()
        .env("RUST_BACKTRACE", "1")
        .env("ZENOAUTH_LOG_FORMAT", "json")
        .env("ZENOAUTH_ARGON2_MEMORY_KIB", "1024")
        .env("ZENOAUTH_ARGON2_ITERATIONS", "1")
        .env("ZENOAUTH_ARGON2_PARALLELISM", "1")
        .stdin(Stdio::null());
    command
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the operator-mistake contract: non-zero exit, exactly one stderr
/// line starting `error: `, no panic, no backtrace. Returns that line.
pub fn assert_one_line_error(output: &Output) -> String {
    let stderr = stderr(output);
    assert!(!output.status.success(), "expected failure, got {:?}; stderr: {stderr}", output.status);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    let lowered = stderr.to_lowercase();
    assert!(!lowered.contains("panicked") && !lowered.contains("backtrace"), "{stderr}");
    lines[0].to_owned()
}

/// Collects a child's pipe in the background.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<String>>);

impl Captured {
    pub fn collect(pipe: impl Read + Send + 'static) -> Self {
        let captured = Self::default();
        let sink = captured.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        captured
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Waits until `predicate` holds for the captured text.
    pub async fn wait_for(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        for _ in 0..300 {
            let text = self.text();
            if predicate(&text) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}; captured so far:\n{}", self.text());
    }
}

/// The address from a `listening on http://ADDRESS` log line.
pub fn listening_address(log: &str) -> Option<SocketAddr> {
    let start = log.find("listening on http://")? + "listening on http://".len();
    let rest = &log[start..];
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A running `zenoauth serve`; killed if still running when dropped.
pub struct ServeProcess {
    pub child: Child,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl ServeProcess {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Captured::collect(child.stdout.take().unwrap());
        let stderr = Captured::collect(child.stderr.take().unwrap());
        Self { child, stdout, stderr }
    }

    pub async fn address(&self) -> SocketAddr {
        let log = self.stdout.wait_for("the listening address", |text| listening_address(text).is_some()).await;
        listening_address(&log).unwrap()
    }

    /// Sends SIGTERM and waits (up to `within`) for the exit status.
    pub async fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill failed");
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(tokio::time::Instant::now() < deadline, "zenoauth did not exit within {within:?} of SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
