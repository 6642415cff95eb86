# Sourced by scripts/test: makes sure DATABASE_URL names a reachable PostgreSQL
# server on which the test user may create databases (every test makes its own).

postgres_is_reachable() {
  # Asks the server itself; falls back to a TCP probe when psql is absent.
  if command -v psql >/dev/null 2>&1; then
    psql "$1" -Atqc 'select 1' >/dev/null 2>&1
  else
    local hostport=${1#*@}; hostport=${hostport%%/*}
    (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
  fi
}

find_postgres_binaries() {
  local candidate
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV) /usr/local/pgsql/bin; do
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
      echo "$candidate"
      return 0
    fi
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}

start_throwaway_cluster() {
  local bin=$1 owner="" port=55432
  local dir
  dir=$(mktemp -d /tmp/zenoauth-pg.XXXXXX)
  # initdb refuses to run as root: hand the cluster to an unprivileged user.
  if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
    chown "$owner" "$dir"
  fi
  as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust >"$dir/initdb.log" 2>&1 \
    || { echo "error: initdb failed, see $dir/initdb.log" >&2; return 1; }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
    || { echo "error: could not start PostgreSQL, see $dir/server.log" >&2; return 1; }
  # shellcheck disable=SC2064
  trap "runuser_stop '$bin' '$dir' '$owner'" EXIT
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

runuser_stop() {
  local bin=$1 dir=$2 owner=$3
  if [ -n "$owner" ]; then runuser -u "$owner" -- "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  else "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
}

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    postgres_is_reachable "$DATABASE_URL" && return 0
    echo "error: DATABASE_URL is set but PostgreSQL does not answer there" >&2
    exit 1
  fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if postgres_is_reachable "$local_url"; then
    export DATABASE_URL="$local_url"
    return 0
  fi
  local bin
  if bin=$(find_postgres_binaries) && [ -n "$bin" ]; then
    start_throwaway_cluster "$bin"
    return 0
  fi
  echo "error: no PostgreSQL found: set DATABASE_URL, or install it (apt-get install postgresql)" >&2
  exit 1
}
