//! The layering rules of docs/ARCHITECTURE.md, checked rather than hoped for:
//! dependency arrows point inward (server → adapters → domain), adapters never
//! depend on each other, and every crate is in the codemap.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (package, dependency, kind) for every declared dependency of every workspace crate.
fn dependency_edges() -> Vec<(String, String, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let mut edges = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let kind = dependency["kind"].as_str().unwrap_or("normal").to_owned();
            edges.push((name.clone(), dependency["name"].as_str().expect("dep name").to_owned(), kind));
        }
    }
    edges
}

const ADAPTERS: [&str; 4] =
    ["zenoauth-crypto", "zenoauth-store-postgres", "zenoauth-store-sqlite", "zenoauth-store-memory"];
const WEB_CRATES: [&str; 8] =
    ["axum", "tower", "tower-http", "hyper", "reqwest", "utoipa", "utoipa-swagger-ui", "clap"];

fn violations(edges: &[(String, String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (package, dependency, kind) in edges {
        let normal = kind == "normal";
        let forbidden = match package.as_str() {
            // Pure: std, value crates, thiserror, async-trait. No I/O, no runtime, no other crate of ours.
            "zenoauth-domain" => {
                normal
                    && (dependency.starts_with("zenoauth-")
                        || dependency == "sqlx"
                        || dependency == "tokio"
                        || WEB_CRATES.contains(&dependency.as_str()))
            }
            // Adapters depend on the domain only; the conformance suite only in tests.
            adapter if ADAPTERS.contains(&adapter) => {
                (dependency.starts_with("zenoauth-")
                    && dependency != "zenoauth-domain"
                    && !(dependency == "zenoauth-store-tests" && kind == "dev"))
                    || (normal && WEB_CRATES.contains(&dependency.as_str()))
            }
            "zenoauth-store-tests" => dependency.starts_with("zenoauth-") && dependency != "zenoauth-domain",
            // The caching decorator wraps any store through the ports: the domain only
            // (its tests run the conformance suite over the memory store).
            "zenoauth-store-cache" => {
                (dependency.starts_with("zenoauth-")
                    && dependency != "zenoauth-domain"
                    && !(kind == "dev"
                        && matches!(dependency.as_str(), "zenoauth-store-memory" | "zenoauth-store-tests")))
                    || (normal && WEB_CRATES.contains(&dependency.as_str()))
            }
            // The server wires adapters but writes no SQL: sqlx only in its tests.
            "zenoauth-server" => normal && dependency == "sqlx",
            _ => false,
        };
        let sql_outside_stores = dependency == "sqlx"
            && normal
            && !matches!(package.as_str(), "zenoauth-store-postgres" | "zenoauth-store-sqlite");
        if forbidden || sql_outside_stores {
            found.push(format!("{package} → {dependency} ({kind})"));
        }
    }
    found
}

#[test]
fn dependency_arrows_point_inward() {
    let found = violations(&dependency_edges());
    assert!(found.is_empty(), "forbidden dependency edges (see docs/ARCHITECTURE.md):\n{}", found.join("\n"));
}

#[test]
fn the_layering_check_catches_forbidden_edges() {
    let edge = |from: &str, to: &str, kind: &str| (from.to_owned(), to.to_owned(), kind.to_owned());
    let forbidden = [
        edge("zenoauth-domain", "sqlx", "normal"),
        edge("zenoauth-domain", "axum", "normal"),
        edge("zenoauth-domain", "zenoauth-crypto", "normal"),
        edge("zenoauth-store-postgres", "zenoauth-store-sqlite", "normal"),
        edge("zenoauth-store-sqlite", "zenoauth-store-memory", "dev"),
        edge("zenoauth-crypto", "axum", "normal"),
        edge("zenoauth-server", "sqlx", "normal"),
        edge("zenoauth-store-tests", "zenoauth-store-memory", "normal"),
        edge("zenoauth-store-cache", "zenoauth-store-postgres", "normal"),
        edge("zenoauth-store-cache", "zenoauth-store-memory", "normal"),
        edge("zenoauth-store-cache", "sqlx", "normal"),
        edge("zenoauth-store-cache", "axum", "normal"),
        edge("zenoauth-store-postgres", "zenoauth-store-cache", "normal"),
    ];
    for case in forbidden {
        assert_eq!(violations(std::slice::from_ref(&case)).len(), 1, "{case:?} must be refused");
    }
    let allowed = [
        edge("zenoauth-domain", "tokio", "dev"),
        edge("zenoauth-store-postgres", "sqlx", "normal"),
        edge("zenoauth-store-postgres", "zenoauth-store-tests", "dev"),
        edge("zenoauth-server", "zenoauth-store-postgres", "normal"),
        edge("zenoauth-server", "sqlx", "dev"),
        edge("zenoauth-store-cache", "moka", "normal"),
        edge("zenoauth-store-cache", "zenoauth-store-memory", "dev"),
        edge("zenoauth-server", "zenoauth-store-cache", "normal"),
    ];
    for case in allowed {
        assert!(violations(std::slice::from_ref(&case)).is_empty(), "{case:?} must be allowed");
    }
}

#[test]
fn every_crate_is_in_the_codemap() {
    let architecture =
        std::fs::read_to_string(workspace_root().join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("crates")).expect("crates/") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if !architecture.contains(&format!("### `{name}`")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "crates missing a `### `name`` heading in docs/ARCHITECTURE.md: {missing:?}");
}

#[test]
fn every_crate_says_what_it_owns() {
    for entry in std::fs::read_dir(workspace_root().join("crates")).expect("crates/") {
        let path = entry.expect("entry").path().join("src/lib.rs");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} exists", path.display()));
        assert!(source.starts_with("//!"), "{} must start with a //! paragraph", path.display());
    }
}
