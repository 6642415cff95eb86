#!/usr/bin/env python3
"""The parts of `scripts/bench` that wrk cannot do: multi-step flows.

  login-token    one password login through the real authorization-code flow
                 (GET /authorize -> login form POST -> code -> POST /token);
                 prints the access token (for the userinfo scenario).
  login-load     that flow in a loop on N concurrent "browsers" for a fixed
                 time; prints a RESULT line in the format of scripts/bench's
                 wrk Lua hook, and a STEPS line (median of each step).
  provision-orgs creates organizations through the admin API, each with one
                 client_credentials application, and issues one token per
                 organization (which makes its signing key, as first use
                 does in production). Writes "slug client_id secret" lines.

Standard library only (http.client, one keep-alive connection per worker
thread), so the benchmark needs nothing beyond Python 3.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, base, timeout):
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = url.hostname, url.port or 80, timeout
        self.connection = None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = body.encode()
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return response.status, response, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server had closed: a browser retries once.
                self.close()
                if attempt == 1:
                    raise

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def form(pairs):
    return urllib.parse.urlencode(pairs)


def basic(client_id, secret):
    quoted = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(quoted.encode()).decode()


def hidden_field(html, name):
    match = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), html)
    if not match:
        return None
    text = match.group(1)
    for entity, char in (("&quot;", '"'), ("&#39;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


class FlowError(Exception):
    pass


def login_flow(client, args, email, password, timings=None):
    """authorize -> login -> code -> token, as a browser with a fresh cookie
    jar (no session: the login form is shown every time). Returns the token
    response's JSON."""
    issuer_path = urllib.parse.urlsplit(args.issuer).path
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    query = form([
        ("response_type", "code"), ("client_id", args.client_id), ("redirect_uri", args.redirect_uri),
        ("scope", args.scope), ("state", state), ("nonce", secrets.token_urlsafe(12)),
        ("code_challenge", challenge), ("code_challenge_method", "S256"),
    ])
    started = time.perf_counter()
    status, response, body = client.request("GET", f"{issuer_path}/authorize?{query}")
    if status != 200:
        raise FlowError(f"authorize: {status}")
    page = body.decode()
    cookies = [header.split(";", 1)[0] for header in response.headers.get_all("set-cookie") or []]
    csrf, authorize = hidden_field(page, "csrf_token"), hidden_field(page, "authorize")
    if not csrf or authorize is None:
        raise FlowError("authorize: no login form")
    shown = time.perf_counter()
    status, response, body = client.request(
        "POST", f"{issuer_path}/login",
        form([("csrf_token", csrf), ("email", email), ("password", password), ("authorize", authorize)]),
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)})
    if status not in (302, 303):
        raise FlowError(f"login: {status}")
    location = response.getheader("location", "")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    if params.get("state") != state or "code" not in params:
        raise FlowError("login: no code in the redirect")
    logged_in = time.perf_counter()
    status, response, body = client.request(
        "POST", f"{issuer_path}/token",
        form([("grant_type", "authorization_code"), ("code", params["code"]),
              ("redirect_uri", args.redirect_uri), ("code_verifier", verifier)]),
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic(args.client_id, args.secret)})
    if status != 200:
        raise FlowError(f"token: {status}")
    done = time.perf_counter()
    if timings is not None:
        timings.append((shown - started, logged_in - shown, done - logged_in))
    return json.loads(body)


def percentile(sorted_values, share):
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def login_token(args):
    users = [line.split(None, 1) for line in open(args.users).read().splitlines() if line.strip()]
    email, password = users[0]
    print(login_flow(Client(args.issuer, args.timeout), args, email, password)["access_token"])


def login_load(args):
    users = [line.split(None, 1) for line in open(args.users).read().splitlines() if line.strip()]
    lock = threading.Lock()
    latencies, timings, errors = [], [], {"status": 0, "socket": 0}
    kinds = {}
    start = threading.Barrier(args.concurrency + 1)
    deadline = [0.0]

    def worker(index):
        client = Client(args.issuer, args.timeout)
        email, password = users[index % len(users)]
        mine, my_timings = [], []
        start.wait()
        # Every worker completes at least one login; none starts one after the deadline.
        while True:
            begun = time.perf_counter()
            try:
                login_flow(client, args, email, password, my_timings)
                mine.append(time.perf_counter() - begun)
            except FlowError as error:
                with lock:
                    errors["status"] += 1
                    kinds[str(error)] = kinds.get(str(error), 0) + 1
                client.close()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors["socket"] += 1
                    kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
                client.close()
            except ValueError as error:  # an answer that is not the expected JSON
                with lock:
                    errors["status"] += 1
                    kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
                client.close()
            if time.perf_counter() >= deadline[0]:
                break
        client.close()
        with lock:
            latencies.extend(mine)
            timings.extend(my_timings)

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(args.concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + args.duration
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    us = lambda seconds: int(seconds * 1e6)
    print("RESULT %d %.3f %d %d %d %d %d" % (
        len(latencies), elapsed, us(percentile(latencies, 0.50)), us(percentile(latencies, 0.95)),
        us(percentile(latencies, 0.99)), errors["status"], errors["socket"]))
    steps = [sorted(step) for step in zip(*timings)] if timings else [[], [], []]
    print("STEPS %d %d %d" % tuple(us(percentile(step, 0.50)) for step in steps))
    if kinds:
        print("ERRORS " + json.dumps(kinds), file=sys.stderr)


def provision_orgs(args):
    """Organizations bench-00001 ... through the admin API, each with an
    EdDSA client_credentials application and its first token (its signing key)."""
    token_lock = threading.Lock()
    admin = {"token": None, "at": 0.0}
    base_path = urllib.parse.urlsplit(args.base).path.rstrip("/")

    def admin_token(force=False):
        with token_lock:
            if force or admin["token"] is None or time.monotonic() - admin["at"] > 300:
                status, _, body = Client(args.base, args.timeout).request(
                    "POST", f"{base_path}/o/system/token", form([("grant_type", "client_credentials"), ("scope", "zenoauth:admin")]),
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "Authorization": basic(args.provisioner_id, args.provisioner_secret)})
                if status != 200:
                    raise SystemExit(f"error: admin token: {status} {body[:200]!r}")
                admin["token"], admin["at"] = json.loads(body)["access_token"], time.monotonic()
            return admin["token"]

    local = threading.local()

    def api(path, document):
        client = local.__dict__.setdefault("client", Client(args.base, args.timeout))
        for _ in range(2):
            status, _, body = client.request("POST", f"{base_path}{path}", json.dumps(document), {
                "Content-Type": "application/json", "Authorization": f"Bearer {admin_token()}"})
            if status == 401:
                admin_token(force=True)
                continue
            if status not in (200, 201):
                raise SystemExit(f"error: POST {path}: {status} {body[:300]!r}")
            return json.loads(body)
        raise SystemExit(f"error: POST {path}: still 401")

    def one(number):
        slug = f"{args.prefix}-{number:05d}"
        organization = api("/api/v1/organizations", {"slug": slug, "name": f"Bench tenant {number}"})
        created = api(f"/api/v1/organizations/{organization['id']}/applications", {
            "client_id": "bench-app", "name": "Bench app", "allowed_scopes": ["api.read"],
            "grant_types": ["client_credentials"], "signing_algorithm": "EdDSA"})
        client = local.__dict__.setdefault("client", Client(args.base, args.timeout))
        status, _, body = client.request("POST", f"{base_path}/o/{slug}/token", "grant_type=client_credentials", {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic("bench-app", created["client_secret"])})
        if status != 200:
            raise SystemExit(f"error: first token of {slug}: {status} {body[:200]!r}")
        return f"{slug} bench-app {created['client_secret']}"

    admin_token()
    started = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool, open(args.out, "w") as out:
        for index, line in enumerate(pool.map(one, range(args.first, args.first + args.count)), 1):
            out.write(line + "\n")
            if index % 1000 == 0:
                print(f"  {index} organizations, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print("%.1f" % (time.perf_counter() - started))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("login-token", "login-load"):
        command = commands.add_parser(name)
        command.add_argument("--issuer", required=True)
        command.add_argument("--client-id", required=True)
        command.add_argument("--secret", required=True)
        command.add_argument("--redirect-uri", required=True)
        command.add_argument("--scope", default="openid email profile")
        command.add_argument("--users", required=True, help='file of "email password" lines')
        command.add_argument("--timeout", type=float, default=120)
        if name == "login-load":
            command.add_argument("--concurrency", type=int, default=1)
            command.add_argument("--duration", type=float, default=10)
    command = commands.add_parser("provision-orgs")
    command.add_argument("--base", required=True)
    command.add_argument("--provisioner-id", required=True)
    command.add_argument("--provisioner-secret", required=True)
    command.add_argument("--count", type=int, required=True)
    command.add_argument("--first", type=int, default=1)
    command.add_argument("--prefix", default="bench")
    command.add_argument("--parallel", type=int, default=os.cpu_count() * 4)
    command.add_argument("--out", required=True)
    command.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    {"login-token": login_token, "login-load": login_load, "provision-orgs": provision_orgs}[args.command](args)


if __name__ == "__main__":
    main()
