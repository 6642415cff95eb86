//! The router in-process on an ephemeral port, driven by reqwest.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use zenoauth_server::database::Database;
use zenoauth_server::http::problem::Problem;
use zenoauth_server::http::{AppState, HttpLimits, StoresReadiness};
use zenoauth_store_memory::MemoryDatabase;
use zenoauth_store_sqlite::SqliteDatabase;

use crate::support::{client, test_state, TestServer};

fn memory_state(database: &MemoryDatabase) -> AppState {
    test_state(database.stores(), Arc::new(StoresReadiness(database.stores())))
}

async fn memory_server() -> (MemoryDatabase, TestServer) {
    let database = MemoryDatabase::new();
    let server = TestServer::start(memory_state(&database)).await;
    (database, server)
}

async fn assert_problem(response: reqwest::Response, status: StatusCode) -> Problem {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Problem = response.json().await.unwrap();
    assert_eq!(problem.status, status.as_u16());
    problem
}

#[tokio::test]
async fn healthz_is_ok() {
    let (_database, server) = memory_server().await;
    let response = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ok_on_sqlite() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("ready.db").display());
    let sqlite = SqliteDatabase::connect(&url, 2).await.unwrap();
    sqlite.migrate().await.unwrap();
    let database = Database::Sqlite(sqlite);
    let server = TestServer::start(test_state(database.stores(), Arc::new(database))).await;
    let response = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_503_problem_when_the_store_fails() {
    let (database, server) = memory_server().await;
    assert_eq!(client().get(server.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
    database.faults().fail_always(true);
    let response = client().get(server.url("/readyz")).send().await.unwrap();
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem.title, "Service Unavailable");
    assert_eq!(problem.detail.as_deref(), Some("the database is unreachable"));
    // Liveness does not depend on the database.
    assert_eq!(client().get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let (_database, server) = memory_server().await;
    let client = client();
    for _ in 0..2 {
        client.get(server.url("/healthz")).send().await.unwrap();
    }
    client.get(server.url("/no/such/path/12345")).send().await.unwrap();
    let response = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(!text.contains("12345"), "raw paths must not become labels: {text}");
    assert!(text.contains(r#"http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 2"#));
    assert!(text.contains(&format!(r#"zenoauth_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"))), "{text}");
}

#[tokio::test]
async fn unknown_routes_are_404_problem_json() {
    let (_database, server) = memory_server().await;
    let response = client().get(server.url("/nope")).send().await.unwrap();
    let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(problem.problem_type, "about:blank");
    assert_eq!(problem.title, "Not Found");
}

#[tokio::test]
async fn wrong_methods_are_405_problem_json() {
    let (_database, server) = memory_server().await;
    let response = client().delete(server.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let (_database, server) = memory_server().await;
    let client = client();
    let echoed = client.get(server.url("/healthz")).header("x-request-id", "trace-42.a:b_c").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42.a:b_c");

    let generated = client.get(server.url("/nope")).send().await.unwrap();
    let first = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(first.len(), 36, "{first}");
    let second = client.get(server.url("/healthz")).send().await.unwrap();
    assert_ne!(second.headers()["x-request-id"].to_str().unwrap(), first);

    // Junk (too long, odd characters) is replaced, not echoed.
    for junk in ["x".repeat(200), "a b".to_owned(), "<script>".to_owned()] {
        let response = client.get(server.url("/healthz")).header("x-request-id", &junk).send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, junk);
        assert_eq!(id.len(), 36);
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_problem_json() {
    let database = MemoryDatabase::new();
    let limits = HttpLimits { max_body_bytes: 1024, ..HttpLimits::default() };
    let server = TestServer::start(memory_state(&database).with_limits(limits)).await;
    let response = client().post(server.url("/healthz")).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let response = client().post(server.url("/nope")).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn slow_requests_time_out_with_503_problem_json() {
    let database = MemoryDatabase::new();
    database.faults().set_latency(Duration::from_secs(3));
    let limits = HttpLimits { request_timeout: Duration::from_millis(200), ..HttpLimits::default() };
    let server = TestServer::start(memory_state(&database).with_limits(limits)).await;
    let started = tokio::time::Instant::now();
    let response = client().get(server.url("/readyz")).send().await.unwrap();
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn openapi_and_docs_are_served() {
    let (_database, server) = memory_server().await;
    let response = client().get(server.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{spec}");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(spec["paths"][path]["get"].is_object(), "{path} missing from {spec}");
    }
    assert!(spec["components"]["schemas"]["Problem"].is_object());

    let response = client().get(server.url("/api/docs/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let database = MemoryDatabase::new();
    database.faults().set_latency(Duration::from_millis(500));
    let mut server = TestServer::start(memory_state(&database)).await;
    let in_flight = tokio::spawn(client().get(server.url("/readyz")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // New connections are refused once the server stopped.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client().get(server.url("/healthz")).send().await.is_err());
}

/// A readiness check that panics, standing in for any handler bug.
struct PanickingCheck;

#[async_trait::async_trait]
impl zenoauth_server::http::ReadinessCheck for PanickingCheck {
    async fn check(&self) -> Result<(), zenoauth_server::http::ReadinessError> {
        panic!("internal detail that must not leak");
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_a_bare_500_problem() {
    let database = MemoryDatabase::new();
    let server = TestServer::start(test_state(database.stores(), Arc::new(PanickingCheck))).await;
    let response = client().get(server.url("/readyz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    let body = response.text().await.unwrap();
    assert!(!body.contains("internal detail"), "{body}");
    let problem: Problem = serde_json::from_str(&body).unwrap();
    assert_eq!(problem.status, 500);
    assert_eq!(problem.title, "Internal Server Error");
    assert_eq!(problem.detail, None);
    // The server keeps serving.
    assert_eq!(client().get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}
