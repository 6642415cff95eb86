# The front door. `just` lists the recipes. Builds share one target directory
# outside the clone (override with CARGO_TARGET_DIR).
set shell := ["bash", "-euo", "pipefail", "-c"]
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/zenoauth/target")

default:
    @just --list

# Start the server (embedded SQLite unless DATABASE_URL is set); bootstraps on first start.
run *args:
    cargo run -- serve {{args}}

# Every check CI runs: fmt, clippy, all tests (finds or starts PostgreSQL).
test:
    scripts/test

# Formatting and lints only.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# The end-to-end load benchmark: release build, fresh PostgreSQL database, wrk
# on 127.0.0.1; writes its figures into docs/benchmarks.md (see scripts/bench).
bench:
    scripts/bench

# The benchmark on a short setting (1 s per scenario), printed, not written.
bench-smoke:
    BENCH_DURATION=1 BENCH_OUT=- scripts/bench

# The benchmark with 10,000 organizations provisioned; writes its own section of
# docs/benchmarks.md, compared with the one `just bench` wrote (run that first).
bench-orgs:
    BENCH_ORGS=10000 scripts/bench

# The login-flood benchmark: 200 concurrent wrong-password logins against one
# account and against 200, with introspection latency and peak RSS measured
# alongside; writes its section of docs/benchmarks.md (see scripts/bench-login-flood).
bench-login-flood:
    scripts/bench-login-flood

# Regenerate docs/openapi.json from the code.
openapi:
    cargo run -q -- openapi > docs/openapi.json

# Apply migrations to DATABASE_URL.
migrate:
    cargo run -- migrate
