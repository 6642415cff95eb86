#!/usr/bin/env bash
# Property-based tests of the admin API with Schemathesis (from PyPI), run by
# scripts/test: a live `zenoauth serve` over a fresh SQLite file, provisioned
# with the CLI (a platform-admin service account), driven from the committed
# docs/openapi.json with a real admin bearer token. Checks: no 5xx, and every
# response conforms to its documented schema. Bounded: a few examples per
# operation and a wall-clock limit. Fails loudly if Schemathesis cannot be
# installed; never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/zenoauth/target}"

SCHEMATHESIS_VERSION=4.32.5
VENV="${ZENOAUTH_VENV:-$HOME/.cache/zenoauth/venv}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-8}"
TIME_LIMIT="${SCHEMATHESIS_TIME_LIMIT:-300}"

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV" \
    || { echo "error: cannot create a Python venv at $VENV (apt-get install python3-venv)" >&2; exit 1; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || { echo "error: cannot install schemathesis $SCHEMATHESIS_VERSION from PyPI" >&2; exit 1; }
fi

cargo build --quiet --locked -p zenoauth-server
ZENOAUTH="$CARGO_TARGET_DIR/debug/zenoauth"
WORK=$(mktemp -d /tmp/zenoauth-schemathesis.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A clean installation, provisioned the way docs/admin-api.md shows.
export ZENOAUTH_LOG_LEVEL=warn ZENOAUTH_ARGON2_MEMORY_KIB=1024 ZENOAUTH_ARGON2_ITERATIONS=1 ZENOAUTH_ARGON2_PARALLELISM=1
export ZENOAUTH_RATE_LIMIT_IP_PER_SECOND=0 ZENOAUTH_RATE_LIMIT_CLIENT_PER_SECOND=0
export DATABASE_URL="sqlite://$WORK/zenoauth.db"
cd "$WORK"
"$ZENOAUTH" bootstrap 2>/dev/null
SECRET=$("$ZENOAUTH" app create --org system --client-id schemathesis --name Schemathesis \
  --scope zenoauth:admin --grant client_credentials --role platform-admin | sed -n 's/^client_secret=//p')
# Real objects for the path parameters, so operations reach past 404 (all in
# the system organization, which cannot be deleted; the token's own service
# account is not among them).
ORG_ID=$("$ZENOAUTH" org list | awk -F'\t' '$2 == "system" {print $1}')
USER_ID=$("$ZENOAUTH" user create --org system --email fuzz@example.com | sed -n 's/^id=//p')
APP_ID=$("$ZENOAUTH" app create --org system --client-id fuzz-app --name Fuzz | sed -n 's/^id=//p')
ROLE_ID=$("$ZENOAUTH" role create --org system --name fuzz-role --permission fuzz:all | sed -n 's/^id=//p')
cat >"$WORK/schemathesis.toml" <<TOML
[parameters]
"path.org_id" = "$ORG_ID"
"path.user_id" = "$USER_ID"
"path.application_id" = "$APP_ID"
"path.role_id" = "$ROLE_ID"
TOML

ZENOAUTH_BIND=127.0.0.1:0 ZENOAUTH_LOG_LEVEL=info "$ZENOAUTH" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ADDRESS=""
for _ in $(seq 1 100); do
  ADDRESS=$(grep -o 'listening on http://[0-9.:]*' "$WORK/server.log" | head -n1 | sed 's|listening on http://||' || true)
  [ -n "$ADDRESS" ] && break
  sleep 0.1
done
[ -n "$ADDRESS" ] || { echo "error: zenoauth serve did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
BASE="http://$ADDRESS"
TOKEN=$("$VENV/bin/python" - "$BASE" "$SECRET" <<'PY'
import base64, json, sys, urllib.parse, urllib.request
base, secret = sys.argv[1], sys.argv[2]
body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "zenoauth:admin"}).encode()
request = urllib.request.Request(f"{base}/o/system/token", data=body)
request.add_header("Authorization", "Basic " + base64.b64encode(f"schemathesis:{secret}".encode()).decode())
print(json.load(urllib.request.urlopen(request))["access_token"])
PY
)

cd - >/dev/null
started=$(date +%s)
status=0
timeout --kill-after=10 "$TIME_LIMIT" "$VENV/bin/st" --config-file "$WORK/schemathesis.toml" run docs/openapi.json \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --include-path-regex '^/api/v1/' \
  --checks not_a_server_error,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --seed 4 \
  --workers 1 \
  --request-timeout 10 \
  --no-color || status=$?
echo "schemathesis: $(( $(date +%s) - started )) s against $BASE (exit $status)"
if [ "$status" -ne 0 ]; then
  echo "--- server log (warnings and errors, last 30 lines)"; grep -v "\"level\":\"INFO\"" "$WORK/server.log" | tail -n 30
fi
exit "$status"
