#!/usr/bin/env python3
"""Writes the figures of one `scripts/bench` run into docs/benchmarks.md.

Arguments: results metrics out load_before load_after KEY=VALUE...
One organization: the section between <!-- bench:begin --> and
<!-- bench:end -->. BENCH_ORGS > 1: the section between
<!-- bench-orgs:begin --> and <!-- bench-orgs:end -->, with a comparison
against the one-organization section found in the same file.
"""

import datetime
import re
import sys

results_file, metrics_file, out, load_before, load_after = sys.argv[1:6]
settings = dict(argument.split("=", 1) for argument in sys.argv[6:])
metrics = open(metrics_file).read()
orgs = int(settings["ORGS"])
login_concurrency = settings["LOGIN_CONCURRENCY"]

NAMES = {
    "discovery": "discovery (`GET /.well-known/openid-configuration`)",
    "jwks": "JWKS (`GET /jwks`)",
    "client_credentials_EdDSA": "client_credentials, EdDSA",
    "client_credentials_ES256": "client_credentials, ES256",
    "client_credentials_RS256": "client_credentials, RS256",
    "introspection_EdDSA": "introspection of an EdDSA access token",
    "introspection_EdDSA_16": "introspection, EdDSA, 16 connections",
    "introspection_EdDSA_pinned": "introspection, EdDSA, wrk (1 thread) on CPU 0, server on CPU 1",
    "userinfo": "userinfo (`GET /userinfo`, a user's EdDSA access token)",
    "client_credentials_spread": f"client_credentials, EdDSA, a random one of the {orgs - 1:,} other organizations per request",
    "login_1": "password login, 1 at a time",
    f"login_{login_concurrency}": f"password login, {login_concurrency} at once",
}


def ms(us):
    return f"{int(us) / 1000:.2f} ms"


def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB"


requests_rows, login_rows, by_name = [], [], {}
for line in open(results_file):
    f = line.split()
    name, requests, seconds = f[0], int(f[2]), float(f[3])
    p50, p95, p99, non2xx, socket = map(int, f[4:9])
    commits = int(f[11]) - int(f[9])
    tuples = int(f[12]) - int(f[10])
    steps = f[14:17]
    ticks_per_second = int(settings.get("CLK_TCK", "100"))
    cpu = f"{int(f[18]) / ticks_per_second / seconds:.2f} / {int(f[19]) / ticks_per_second / seconds:.2f}"
    by_name[name] = {"rate": requests / seconds, "p50": p50, "p95": p95, "p99": p99, "errors": non2xx + socket,
                     "login_post": int(steps[1]) if len(steps) > 1 and steps[1] != "-" else None}
    per_1000 = lambda count: count * 1000 / max(requests, 1)
    if name.startswith("login_"):
        step_text = " / ".join(ms(step) if step != "-" else "–" for step in steps)
        login_rows.append(
            f"| {NAMES[name]} | {requests:,} | {requests / seconds:,.1f} | {ms(p50)} | {ms(p95)} | {ms(p99)} | "
            f"{non2xx + socket} | {step_text} | {per_1000(commits):,.0f} | {per_1000(tuples):,.0f} | {cpu} |")
    else:
        requests_rows.append(
            f"| {NAMES[name]} | {requests / seconds:,.0f} | {ms(p50)} | {ms(p95)} | {ms(p99)} | "
            f"{non2xx + socket} | {per_1000(commits):.1f} | {per_1000(tuples):,.0f} | {cpu} |")

hits = {m[0]: float(m[1]) for m in re.findall(r'zenoauth_cache_hit_ratio\{cache="([a-z_]+)"\} ([0-9.e+-]+)', metrics)}
cache = ", ".join(f"{name} {ratio * 100:.1f} %" for name, ratio in sorted(hits.items()) if ratio > 0)
entries = {m[0]: int(float(m[1])) for m in re.findall(r'zenoauth_cache_entries\{cache="([a-z_]+)"\} ([0-9.e+-]+)', metrics)}
entries_text = ", ".join(f"{name} {count:,}" for name, count in sorted(entries.items()) if count > 0)

verify_ms = settings.get("VERIFY_MS") or ""
login_1 = by_name.get("login_1")
if verify_ms and login_1:
    verify = float(verify_ms)
    flow_over = login_1["p50"] / 1000 - verify
    post_over = (login_1["login_post"] / 1000 - verify) if login_1.get("login_post") is not None else None
    post_text = "" if post_over is None else (
        f" The login request itself (`POST /login`: lockout check, user lookup, the verification, session, code) "
        f"has a median of {login_1['login_post'] / 1000:.1f} ms, {post_over:+.1f} ms over the verification.")
    verdict = "within" if flow_over <= 5 else "more than"
    argon2_text = (f"Argon2id verification at the same parameters (m = 65536 KiB, t = 3, p = 4; criterion's "
                   f"`argon2id/verify`, median, run by the script just before the server started): **{verify:.1f} ms**. "
                   f"Whole login flow, one at a time: p50 {login_1['p50'] / 1000:.1f} ms, {flow_over:+.1f} ms over "
                   f"the verification ({verdict} the 5 ms of the target).{post_text}")
else:
    argon2_text = ("Argon2id verification time: not measured (the criterion binary of zenoauth-crypto was not built; "
                   "run without BENCH_NO_BUILD).")

hashes = int(settings["MAX_CONCURRENT_HASHES"])
# The ceiling of the login-flood section: RSS before the logins + running hashes × Argon2
# memory + 32 MiB for connections and request buffers.
bound_kib = int(settings["LOGIN_BASE_RSS"]) + hashes * 65536 + 32 * 1024
within = "under" if int(settings["PEAK_RSS_LOGIN"]) <= bound_kib else "OVER"
pinned = ""
if settings.get("WRK_CPUS") or settings.get("SERVER_CPUS"):
    pinned = (f" Pinned with `taskset`: wrk on CPU {settings.get('WRK_CPUS') or 'any'}, the server on CPU "
              f"{settings.get('SERVER_CPUS') or 'any'}.")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
tenants = "one organization (`bench`) besides `system`" if orgs <= 1 else (
    f"{orgs:,} organizations besides `system`: `bench` and {orgs - 1:,} more (`bench-00001` …), each with an "
    f"EdDSA client_credentials application and its signing key, provisioned through the admin API in "
    f"{settings.get('PROVISION_SECONDS') or '?'} s (`scripts/bench_driver.py provision-orgs`, "
    f"parallel keep-alive requests; each organization: create, application, first token)")
text = f"""Run {now}: {settings['DURATION']} s per scenario, {settings['CONNECTIONS']} connections, {settings['THREADS']} wrk threads, wrk on the
same {settings['CPUS']}-CPU machine (kernel {settings['KERNEL']}), {settings.get('PG', 'PostgreSQL').replace('~', ' ')} on 127.0.0.1, fresh database with
{tenants}; server built with `--release`.{pinned} "Errors" = non-2xx answers + socket errors. "Commits" and "rows
written" per 1000 requests come from `pg_stat_database` around each run (the audit events are written in
batches: rows, but few transactions). Load average before / after the scenarios: {load_before} / {load_after}
(other processes share the two CPUs: see Noise above). "CPU" is the time the server process, and the load
generator (wrk, or the login driver), spent on the CPUs during the run, in cores (2.00 = both CPUs the whole time).

| scenario | requests/s | p50 | p95 | p99 | errors | commits / 1000 req | rows written / 1000 req | CPU: server / load generator (cores) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(requests_rows)}

Password logins, the whole flow per login (`GET /authorize` → login form `POST /login` → code → `POST /token`
with PKCE), each from a fresh cookie jar over a keep-alive connection, spread over {settings['LOGIN_USERS']} users
(`scripts/bench_driver.py login-load`). Latency is that of the whole flow; the steps are medians.

| scenario | logins | logins/s | p50 | p95 | p99 | errors | median: authorize / login POST / token | commits / 1000 logins | rows written / 1000 logins | CPU: server / load generator (cores) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(login_rows)}

{argon2_text}

| process | value |
| --- | --- |
| start-up (spawn → `/readyz` 200, migrated database, {orgs:,} organization{'s' if orgs > 1 else ''}) | {settings['STARTUP']} s |
| busy after `/readyz` (start-up background work, until a second with < 1 % CPU) | ≈ {settings.get('SETTLE', '?')} s |
| RSS idle (after a restart, one request of each kind) | {mib(settings['IDLE_RSS'])} |
| RSS peak under token load (`VmHWM` over the request scenarios, reset before them) | {mib(settings['PEAK_RSS'])} |
| RSS peak during the logins (`VmHWM`, reset before them) | {mib(settings['PEAK_RSS_LOGIN'])}: {within} the admission ceiling, RSS before the logins ({mib(settings['LOGIN_BASE_RSS'])}) + {hashes} running hashes × 64 MiB + 32 MiB = {mib(bound_kib)} |
| CPU at idle (5 s, `/proc/<pid>/stat`) | {settings['IDLE_CPU']} % of one core |
| cache hit ratio at the end (`/metrics`) | {cache or "n/a"} |
| cache entries at the end | {entries_text or "n/a"} |
"""


def section(doc, marker):
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    if begin not in doc or end not in doc:
        return None
    return doc.index(begin) + len(begin), doc.index(end)


doc_path = "docs/benchmarks.md" if out == "-" else out
try:
    doc = open(doc_path).read()
except OSError:
    doc = ""

if orgs > 1:
    # Against the one-organization run in the same file.
    found = section(doc, "bench")
    rows = {}
    if found:
        for line in doc[found[0]:found[1]].splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and line.startswith("| "):
                rows[cells[0]] = cells[1:]
        run_date = re.search(r"Run ([0-9-]+ [0-9:]+ UTC)", doc[found[0]:found[1]])
    compare = []

    def add(label, one, many):
        compare.append(f"| {label} | {one or 'n/a'} | {many} |")

    def one_org(name, column):
        cells = rows.get(NAMES.get(name, name))
        return cells[column] if cells and len(cells) > column else None

    for name in ("client_credentials_EdDSA", "introspection_EdDSA", "userinfo"):
        if name in by_name:
            result = by_name[name]
            add(f"{NAMES[name]}: requests/s", one_org(name, 0), f"{result['rate']:,.0f}")
            add(f"{NAMES[name]}: p50 / p99", one_org(name, 1) and f"{one_org(name, 1)} / {one_org(name, 3)}",
                f"{ms(result['p50'])} / {ms(result['p99'])}")
    if "client_credentials_spread" in by_name:
        result = by_name["client_credentials_spread"]
        add(f"{NAMES['client_credentials_spread']}: requests/s, p50 / p99", "–",
            f"{result['rate']:,.0f}, {ms(result['p50'])} / {ms(result['p99'])}")
    for name in ("login_1", f"login_{login_concurrency}"):
        if name in by_name:
            result = by_name[name]
            add(f"{NAMES[name]}: logins/s, p50, errors", one_org(name, 1) and
                f"{one_org(name, 1)}, {one_org(name, 2)}, {one_org(name, 5)}",
                f"{result['rate']:,.1f}, {ms(result['p50'])}, {result['errors']}")
    for label, prefix, value in (
        ("start-up", "start-up", f"{settings['STARTUP']} s"),
        ("busy after `/readyz`", "busy after", f"≈ {settings.get('SETTLE', '?')} s"),
        ("RSS idle", "RSS idle", mib(settings["IDLE_RSS"])),
        ("RSS peak under token load", "RSS peak under token load", mib(settings["PEAK_RSS"])),
        ("RSS peak during the logins", "RSS peak during the logins", mib(settings["PEAK_RSS_LOGIN"])),
    ):
        one = next((cells[0].split(":")[0] for key, cells in rows.items() if key.startswith(prefix)), None)
        add(label, one, value)
    text += f"""
Against the one-organization run above{f" ({run_date.group(1)})" if found and run_date else ""}:

| measure | 1 organization | {orgs:,} organizations |
| --- | ---: | ---: |
{chr(10).join(compare)}
"""

if out == "-":
    print(text)
else:
    marker = "bench-orgs" if orgs > 1 else "bench"
    found = section(doc, marker)
    if not found:
        sys.exit(f"error: {out} has no <!-- {marker}:begin --> / <!-- {marker}:end --> markers")
    open(out, "w").write(doc[:found[0]] + "\n" + text + doc[found[1]:])
    print(f"wrote {out}", file=sys.stderr)
