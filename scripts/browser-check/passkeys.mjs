// Drives ZenoAuth's passkey pages in headless Chromium with a CDP WebAuthn
// virtual authenticator: enrolment on the account page, passwordless sign-in,
// passkey as second factor, passkey enrolment under `mfa_policy = required`,
// a refused foreign passkey — and checks the tokens' `amr`/`acr` and that no
// CSP violation or console error happened. Run it through ./run (README.md).
//
// Environment (set by ./run): ZA_BASE (http://localhost:PORT), ZA_REDIRECT,
// ZA_ORG, ZA_REQUIRED_ORG, ZA_CLIENT, ZA_SECRET, ZA_REQUIRED_CLIENT,
// ZA_REQUIRED_SECRET, ZA_USER, ZA_REQUIRED_USER, ZA_PASSWORD, ZA_ADMIN_CLIENT,
// ZA_ADMIN_SECRET, CHROMIUM (default /usr/bin/chromium), PLAYWRIGHT_CORE (module
// path of playwright-core).
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { createRequire } from "node:module";

const env = (name) => {
  const value = process.env[name];
  if (!value) { throw new Error(`missing ${name}`); }
  return value;
};
const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

const BASE = env("ZA_BASE");
const REDIRECT = env("ZA_REDIRECT");
const PASSWORD = env("ZA_PASSWORD");
const optional = {
  org: env("ZA_ORG"), client: env("ZA_CLIENT"), secret: env("ZA_SECRET"), user: env("ZA_USER"),
};
const required = {
  org: env("ZA_REQUIRED_ORG"), client: env("ZA_REQUIRED_CLIENT"), secret: env("ZA_REQUIRED_SECRET"),
  user: env("ZA_REQUIRED_USER"),
};

const problems = [];
let passed = 0;
function check(condition, what, detail) {
  if (condition) { passed += 1; console.log(`ok   ${what}`); }
  else { problems.push(what); console.log(`FAIL ${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`); }
  return condition;
}
const b64url = (buffer) => buffer.toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
function decodeJwt(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

// The client's redirect URI: a local server that notes the authorization
// response of the session that is running.
const sessions = [];
const callback = new URL(REDIRECT);
const client = createServer((request, response) => {
  const url = new URL(request.url, REDIRECT);
  if (url.pathname === callback.pathname && sessions.length) { sessions[sessions.length - 1].codeUrl = url.href; }
  response.writeHead(200, { "content-type": "text/plain" }).end("callback reached");
});
await new Promise((resolve) => client.listen(Number(callback.port), callback.hostname === "localhost" ? "127.0.0.1" : callback.hostname, resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

// A browser context (own cookies) with a page and its virtual authenticator,
// optionally holding `credentials` exported from another one. `expected`
// lists console messages that are not errors for this context (a 401 page).
async function session(label, credentials = [], expected = []) {
  const context = await browser.newContext();
  // Runs before page scripts and is not subject to the page's CSP.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`);
    });
  });
  const state = { codeUrl: null, violations: [] };
  sessions.push(state);
  const page = await context.newPage();
  page.on("response", (response) => {
    if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) {
      state.csp = response.headers()["content-security-policy"] || "";
    }
  });
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|CSP violation/i.test(text)) { state.violations.push(text); }
    if (message.type() === "error" || /Content Security Policy|CSP violation/i.test(text)) {
      if (!expected.some((pattern) => pattern.test(text))) {
        check(false, `[${label}] no console error`, `${message.type()}: ${text} @ ${page.url()}`);
      }
    }
  });
  page.on("pageerror", (error) => check(false, `[${label}] no page error`, String(error)));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  for (const credential of credentials) {
    await cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
  }
  const stored = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  const setVerified = (isUserVerified) => cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified });
  return { context, page, state, stored, setVerified };
}

// Opens an authorization request; returns the PKCE verifier.
async function authorize(s, tenant, extra = {}) {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const query = new URLSearchParams({
    response_type: "code", client_id: tenant.client, redirect_uri: REDIRECT, scope: "openid email",
    state: "st-" + b64url(randomBytes(6)), nonce: "n-" + b64url(randomBytes(6)),
    code_challenge: challenge, code_challenge_method: "S256", ...extra,
  });
  s.state.codeUrl = null;
  await s.page.goto(`${BASE}/o/${tenant.org}/authorize?${query}`);
  return verifier;
}

async function submitAndWait(page, locator) {
  await Promise.all([page.waitForLoadState("load"), page.waitForNavigation({ timeout: 15000 }), locator.click()]);
}

// Clicks "Continue" on a ceremony page: passkey.js calls the authenticator and
// posts the answer. Returns once the next page has loaded.
async function ceremony(s, label) {
  const form = s.page.locator("#passkey-form");
  if (!check(await form.count() === 1, `[${label}] ceremony page shown`, await s.page.content())) { return false; }
  const csp = s.state.csp;
  check(/script-src 'sha256-[A-Za-z0-9+/=]+';/.test(csp) && !/unsafe|script-src[^;]*'self'/.test(csp),
    `[${label}] ceremony page CSP allows the script by hash only`, csp);
  await submitAndWait(s.page, form.locator("button[type=submit]"));
  const alert = await s.page.locator("#passkey-error:not([hidden])").count();
  check(alert === 0, `[${label}] no browser failure message`);
  return true;
}

async function passwordLogin(s, email) {
  await s.page.fill("#email", email);
  await s.page.fill("#password", PASSWORD);
  await submitAndWait(s.page, s.page.locator("form[action=login] button[type=submit]"));
}

// Consents if asked, waits for the redirect to the client, exchanges the code.
async function finishAtClient(s, tenant, verifier, label) {
  if (!s.state.codeUrl && await s.page.locator("button[name=decision][value=allow]").count()) {
    await Promise.all([
      s.page.waitForEvent("requestfinished", { predicate: (r) => r.url().startsWith(REDIRECT), timeout: 15000 })
        .catch(() => null),
      s.page.click("button[name=decision][value=allow]"),
    ]);
  }
  for (let i = 0; i < 50 && !s.state.codeUrl; i++) { await s.page.waitForTimeout(100); }
  if (!check(!!s.state.codeUrl, `[${label}] redirected to the client with a code`,
    [s.page.url(), (await s.page.textContent("body").catch(() => "")).slice(0, 300)])) { return null; }
  const code = new URL(s.state.codeUrl).searchParams.get("code");
  const response = await fetch(`${BASE}/o/${tenant.org}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: "Basic " + Buffer.from(`${tenant.client}:${tenant.secret}`).toString("base64"),
    },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier }),
  });
  const tokens = await response.json();
  if (!check(response.status === 200 && tokens.id_token, `[${label}] code exchanged for tokens`, tokens)) { return null; }
  const claims = decodeJwt(tokens.id_token);
  console.log(`     ${label}: amr=${JSON.stringify(claims.amr)} acr=${claims.acr} sub=${claims.sub}`);
  return claims;
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

try {
  // 1. Password login through an authorization request; then the account's
  //    passkey page: enrol a passkey (the first factor: recovery codes shown).
  const a = await session("enrol");
  let verifier = await authorize(a, optional);
  await passwordLogin(a, optional.user);
  let claims = await finishAtClient(a, optional, verifier, "enrol: password login");
  check(claims && same(claims.amr, ["pwd"]), "password login amr is [pwd]", claims && claims.amr);
  await a.page.goto(`${BASE}/o/${optional.org}/mfa`);
  const link = a.page.locator("a[href$='/mfa/passkeys']");
  check(await link.count() > 0, "[enrol] MFA page links to passkeys");
  await a.page.goto(`${BASE}/o/${optional.org}/mfa/passkeys`);
  check(await a.page.locator("#passkeys-none").count() === 1, "[enrol] no passkey listed yet");
  await a.page.fill("#passkey-name", "Virtual <laptop>");
  await submitAndWait(a.page, a.page.locator("form[action$='/passkeys/begin'] button[type=submit]"));
  await ceremony(a, "enrol");
  check(await a.page.locator("#passkey-notice").count() === 1, "[enrol] passkey added", await a.page.textContent("body"));
  check(await a.page.locator(".recovery-code").count() === 10, "[enrol] ten recovery codes shown");
  let credentials = await a.stored();
  check(credentials.length === 1 && credentials[0].isResidentCredential, "[enrol] one resident credential on the authenticator", credentials.length);
  await a.page.goto(`${BASE}/o/${optional.org}/mfa/passkeys`);
  const names = await a.page.locator(".passkey-name").allTextContents();
  check(same(names, ["Virtual <laptop>"]), "[enrol] passkey listed with its name", names);
  // A second passkey on the same authenticator is excluded (excludeCredentials).
  await a.page.fill("#passkey-name", "Same device again");
  await submitAndWait(a.page, a.page.locator("form[action$='/passkeys/begin'] button[type=submit]"));
  await a.page.locator("#passkey-form button[type=submit]").click();
  await a.page.locator("#passkey-error:not([hidden])").waitFor({ timeout: 15000 });
  check(true, "[enrol] re-registering the same authenticator is refused by the browser (excludeCredentials)");
  check((await a.stored()).length === 1, "[enrol] still one credential");
  await a.context.close();

  // 2. Passwordless sign-in in a fresh context (no cookies) whose authenticator
  //    holds the credential.
  const b = await session("passwordless", credentials);
  verifier = await authorize(b, optional);
  await submitAndWait(b.page, b.page.locator("#passkey-login"));
  await ceremony(b, "passwordless");
  claims = await finishAtClient(b, optional, verifier, "passwordless");
  check(claims && same(claims.amr, ["hwk", "user", "mfa"]) && claims.acr === "mfa", "passwordless amr [hwk,user,mfa], acr mfa", claims && [claims.amr, claims.acr]);
  // The signed-in session sees the passkey's last use.
  await b.page.goto(`${BASE}/o/${optional.org}/mfa/passkeys`);
  const used = await b.page.locator(".passkey span").first().textContent();
  check(!/never/i.test(used), "[passwordless] last use recorded", used);
  // The authenticator's signature counter moved on: copy the current state.
  const stale = credentials;
  credentials = await b.stored();
  check(credentials[0].signCount > stale[0].signCount, "[passwordless] signature counter increased", [stale[0].signCount, credentials[0].signCount]);
  await b.context.close();

  // 2b. A copy of the authenticator made before that use (a clone: its counter
  //     is behind the server's) is refused.
  const clone = await session("clone", stale, [/status of 401/]);
  await authorize(clone, optional);
  await submitAndWait(clone.page, clone.page.locator("#passkey-login"));
  await ceremony(clone, "clone");
  check(/could not be used/i.test(await clone.page.textContent("body")) && !clone.state.codeUrl,
    "[clone] a stale signature counter is refused");
  await clone.context.close();

  // 3. Second factor after the password (the user is enrolled: `optional` asks).
  const c = await session("second factor", credentials);
  verifier = await authorize(c, optional);
  await passwordLogin(c, optional.user);
  check(await c.page.locator("#passkey-challenge").count() === 1, "[second factor] challenge offers a passkey");
  await submitAndWait(c.page, c.page.locator("#passkey-challenge"));
  // The user fails verification on the device: the page says so and stays;
  // trying again works.
  await c.setVerified(false);
  await c.page.locator("#passkey-form button[type=submit]").click();
  const shown = await c.page.locator("#passkey-error:not([hidden])").waitFor({ timeout: 20000 }).then(() => true, () => false);
  check(shown && /\/challenge\/passkey$/.test(c.page.url()), "[second factor] a failed verification shows the error and stays", c.page.url());
  await c.setVerified(true);
  await ceremony(c, "second factor");
  claims = await finishAtClient(c, optional, verifier, "second factor");
  check(claims && same(claims.amr, ["pwd", "hwk", "user", "mfa"]) && claims.acr === "mfa", "second factor amr [pwd,hwk,user,mfa], acr mfa", claims && [claims.amr, claims.acr]);
  await c.context.close();

  // 4. `mfa_policy = required`: a user without a factor enrols a passkey right
  //    after the password, sees the recovery codes, continues to the client.
  const d = await session("required");
  verifier = await authorize(d, required);
  await passwordLogin(d, required.user);
  check(await d.page.locator("form[action$='/passkeys/begin']").count() === 1, "[required] enrolment page offers a passkey", await d.page.textContent("body"));
  await d.page.fill("#passkey-name", "Enrolled at login");
  await submitAndWait(d.page, d.page.locator("form[action$='/passkeys/begin'] button[type=submit]"));
  await ceremony(d, "required");
  check(await d.page.locator(".recovery-code").count() === 10, "[required] ten recovery codes shown");
  const next = d.page.locator("form[action$='/authorize'] button[type=submit]");
  if (check(await next.count() === 1, "[required] Continue resumes the authorization request")) {
    await Promise.all([d.page.waitForLoadState("load"), next.click()]);
  }
  claims = await finishAtClient(d, required, verifier, "required");
  check(claims && same(claims.amr, ["pwd", "hwk", "user", "mfa"]) && claims.acr === "mfa", "required enrolment amr [pwd,hwk,user,mfa], acr mfa", claims && [claims.amr, claims.acr]);
  const foreign = await d.stored();
  await d.context.close();

  // 5. A passkey of another organization (same RP ID) is refused, with one
  //    401 page whose "Sign in with a passkey" button still works.
  const e = await session("foreign", foreign, [/status of 401/]);
  verifier = await authorize(e, optional);
  await submitAndWait(e.page, e.page.locator("#passkey-login"));
  await ceremony(e, "foreign");
  check(/could not be used/i.test(await e.page.textContent("body")), "[foreign] refused with the one message");
  check(!e.state.codeUrl, "[foreign] no code issued");
  const retry = e.page.locator("#passkey-login");
  if (check(await retry.count() === 1, "[foreign] refusal page offers to try again")) {
    const response = await Promise.all([e.page.waitForNavigation(), retry.click()]).then(([r]) => r);
    check(response && response.status() === 200 && await e.page.locator("#passkey-form").count() === 1,
      "[foreign] try again starts a new ceremony", response && [response.status(), response.url()]);
  }
  await e.context.close();

  // 6. The watcher itself: an injected inline script is refused by the CSP
  //    and seen (so "no console error" above means no violation happened).
  const f = await session("watcher", [], [/Content Security Policy|CSP violation/i]);
  await authorize(f, optional);
  await f.page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.injected = true;";
    document.body.appendChild(script);
  });
  await f.page.waitForTimeout(300);
  check(f.state.violations.length > 0 && !(await f.page.evaluate(() => window.injected)),
    "[watcher] an injected inline script is blocked and reported", f.state.violations);
  await f.context.close();
} catch (error) {
  check(false, "driver ran to the end", String(error && error.stack || error));
} finally {
  await browser.close();
  client.close();
}
console.log(problems.length ? `\n${problems.length} failed, ${passed} passed` : `\nall ${passed} checks passed`);
process.exit(problems.length ? 1 : 0);
