//! Committed documents that must follow the code: the sample configuration,
//! docs/configuration.md and docs/openapi.json.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use zenoauth_server::config::{Config, SETTINGS};

fn repository_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repository_file(relative)).unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// `section.key` for every key line of a TOML file, commented out or not.
fn sample_keys(text: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let candidate = line.strip_prefix("# ").unwrap_or(line);
        if let Some((key, _)) = candidate.split_once(" = ") {
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                keys.insert(format!("{section}.{key}"));
            }
        }
    }
    keys
}

#[test]
fn the_sample_config_loads_and_equals_the_defaults() {
    let sample = Config::load_with(Some(&repository_file("deploy/zenoauth.toml")), &|_| None).unwrap();
    let defaults = Config::load_with(None, &|_| None).unwrap();
    assert_eq!(format!("{sample:?}"), format!("{defaults:?}"));
}

#[test]
fn the_sample_config_lists_every_setting_with_its_variables() {
    let text = read("deploy/zenoauth.toml");
    let documented = sample_keys(&text);
    let settings: BTreeSet<String> = SETTINGS.iter().map(|setting| setting.key.to_owned()).collect();
    assert_eq!(documented, settings, "deploy/zenoauth.toml must list exactly the settings of config::SETTINGS");
    for setting in SETTINGS {
        for variable in setting.env {
            assert!(text.contains(variable), "deploy/zenoauth.toml does not name {variable} ({})", setting.key);
        }
    }
}

#[test]
fn the_configuration_guide_documents_every_setting() {
    let text = read("docs/configuration.md");
    for setting in SETTINGS {
        let row = text
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", setting.key)))
            .unwrap_or_else(|| panic!("docs/configuration.md has no table row for {}", setting.key));
        for variable in setting.env {
            assert!(row.contains(&format!("`{variable}`")), "the row of {} does not name {variable}", setting.key);
        }
        if !setting.default.is_empty() {
            assert!(row.contains(&format!("`{}`", setting.default)), "the row of {} lacks its default", setting.key);
        }
    }
}

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = zenoauth_server::http::openapi::openapi_json().unwrap();
    let committed = std::fs::read_to_string(repository_file("docs/openapi.json")).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date with the code: run `just openapi` (cargo run -q -- openapi > docs/openapi.json)"
    );
}
