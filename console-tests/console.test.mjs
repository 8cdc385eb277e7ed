// Browser tests of the admin console: the real gateway binary on a temporary data directory,
// driven through headless Chromium. Run by run.sh (which installs what is missing); each page
// visited is saved as artifacts/<name>.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.GATEWAY_BIN ?? join(here, "..", "target", "debug", "authmcp-gateway");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const artifacts = join(here, "artifacts");
const PASSWORD = "Console-Passw0rd!";

let gateway, base, dataDir, workDir, browser;
let gatewayOutput = "";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// A click that navigates (a link, a form's POST-redirect-GET) is awaited with
// `Promise.all([page.waitForNavigation(), click])`: `waitForLoadState("load")` resolves at once on
// the page already loaded, so the test raced on before the new page arrived (a reload then hit
// "Not attached to an active page").

/** Polls `check` until it returns true or `ms` pass. */
async function waitFor(what, check, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${gatewayOutput}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  workDir = mkdtempSync(join(tmpdir(), "authmcp-console-"));
  dataDir = join(workDir, "data");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = join(workDir, "gateway.toml");
  writeFileSync(
    config,
    [
      `data_dir = ${JSON.stringify(dataDir)}`,
      "[server]",
      `host = "127.0.0.1"`,
      `port = ${port}`,
      `public_url = ${JSON.stringify(base)}`,
      "[auth]",
      "bcrypt_cost = 4",
      "allow_registration = true",
      "[rate_limit]",
      "login_max = 1000",
      "",
    ].join("\n"),
  );
  // A clean environment: no stray DATABASE_URL, PORT or the like from the caller.
  gateway = spawn(binary, ["start", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? workDir },
  });
  gateway.stdout.on("data", (d) => (gatewayOutput += d));
  gateway.stderr.on("data", (d) => (gatewayOutput += d));
  await waitFor("the gateway to answer /health/ready", async () => {
    try {
      return (await fetch(`${base}/health/ready`)).status === 200;
    } catch {
      return false;
    }
  });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway.once("exit", r));
    gateway.kill("SIGTERM");
    await exited;
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** A fresh browser context (its own cookies) whose page must not log errors (CSP violations
 * show up as console errors). */
async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  return { context, page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function signIn(page, username, password) {
  await page.goto(`${base}/admin/login`);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
}

test("setup wizard: a wrong token is refused, the right one creates the admin", async () => {
  const { context, page, errors } = await newPage();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, "/setup");
  await shot(page, "setup");
  const fill = async (token) => {
    await page.fill("#setup_token", token);
    await page.fill("#username", "root");
    await page.fill("#email", "root@example.test");
    await page.fill("#password", PASSWORD);
    await page.fill("#password_confirm", PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  };
  await fill("not-the-setup-token");
  assert.match(await page.textContent("[role=alert]"), /The setup token is wrong/);
  await shot(page, "setup-wrong-token");
  // The refusal page itself came with 403, which Chromium logs; nothing else may be logged.
  assert.deepEqual(errors.splice(0), ["Failed to load resource: the server responded with a status of 403 (Forbidden)"]);
  const token = readFileSync(join(dataDir, "setup-token"), "utf8").trim();
  await fill(token);
  assert.equal(new URL(page.url()).pathname, "/admin");
  assert.equal(await page.textContent("h1"), "Dashboard");
  await shot(page, "dashboard");
  // The wizard is gone once an administrator exists (a signed-in one ends up on the dashboard).
  await page.goto(`${base}/setup`);
  assert.equal(new URL(page.url()).pathname, "/admin");
  assert.deepEqual(errors, []);
  await context.close();
});

test("sign-in: a bad password is refused with a message, a good one lands on the dashboard", async () => {
  const { context, page, errors } = await newPage();
  await page.goto(`${base}/admin`);
  assert.equal(new URL(page.url()).pathname, "/admin/login", "not signed in: to the sign-in form");
  await signIn(page, "root", "Wrong-Passw0rd!");
  assert.equal(await page.textContent("[role=alert]"), "Invalid username or password.");
  await shot(page, "login-bad-password");
  await signIn(page, "root", PASSWORD);
  assert.equal(new URL(page.url()).pathname, "/admin");
  // The window picker works without a button press (the console's script) and with one.
  await Promise.all([page.waitForURL(/window=7d/), page.selectOption("#window", "7d")]);
  assert.match(await page.textContent(".card .label"), /7 days/);
  await shot(page, "dashboard-7d");
  const session = (await context.cookies()).find((c) => c.name === "authmcp_console");
  assert.ok(session.httpOnly, "the session cookie is HttpOnly");
  assert.equal(session.sameSite, "Lax");
  assert.deepEqual(errors, []);
  await context.close();
});

test("CSRF: a form or API change without the right token is refused with 403", async () => {
  const { context, page } = await newPage();
  await signIn(page, "root", PASSWORD);
  // A sign-out form whose token was tampered with.
  await page.locator("form.logout input[name=csrf_token]").evaluate((el) => (el.value = "forged"));
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/admin/logout")),
    page.click("form.logout button"),
  ]);
  assert.equal(response.status(), 403);
  assert.equal(await page.textContent("h1"), "Form expired");
  await shot(page, "csrf-refused");
  // The same cookies without any token, as a cross-site form post would send them.
  const noToken = await context.request.post(`${base}/admin/logout`, { form: {}, maxRedirects: 0 });
  assert.equal(noToken.status(), 403);
  const api = await context.request.delete(`${base}/admin/api/mcp-servers/999`, {
    headers: { "X-CSRF-Token": "forged" },
  });
  assert.equal(api.status(), 403);
  assert.equal((await api.json()).error, "csrf_failed");
  // Still signed in: nothing was changed.
  await page.goto(`${base}/admin`);
  assert.equal(new URL(page.url()).pathname, "/admin");
  await context.close();
});

test("a non-administrator cannot sign in to the console", async () => {
  const registered = await fetch(`${base}/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "alice", email: "alice@example.test", password: PASSWORD }),
  });
  assert.ok(registered.ok, `register: ${registered.status}`);
  const { context, page } = await newPage();
  await signIn(page, "alice", PASSWORD);
  assert.equal(new URL(page.url()).pathname, "/admin/login");
  assert.match(await page.textContent("[role=alert]"), /not an administrator/);
  await shot(page, "login-not-admin");
  assert.equal((await context.cookies()).find((c) => c.name === "authmcp_console"), undefined);
  await context.close();
});

test("sign-out ends the session", async () => {
  const { context, page, errors } = await newPage();
  await signIn(page, "root", PASSWORD);
  const cookie = (await context.cookies()).find((c) => c.name === "authmcp_console");
  await Promise.all([page.waitForNavigation(), page.click("form.logout button")]);
  assert.equal(new URL(page.url()).pathname, "/admin/login");
  await shot(page, "login");
  // The old cookie, replayed, is refused: the session was revoked, not just forgotten.
  const replay = await browser.newContext();
  await replay.addCookies([cookie]);
  const again = await replay.newPage();
  await again.goto(`${base}/admin`);
  assert.equal(new URL(again.url()).pathname, "/admin/login");
  await replay.close();
  assert.deepEqual(errors, []);
  await context.close();
});

/** Starts the rmcp fixture server (`--tools 2` plus `extra` flags); it exits when its stdin closes. */
async function startFixture(extra = []) {
  const fixtureBin = process.env.FIXTURE_BIN ?? join(here, "..", "target", "debug", "examples", "mcp_fixture_server");
  const child = spawn(fixtureBin, ["http", "--port", "0", "--tools", "2", ...extra], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the fixture server exited (${code}): ${out}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/LISTENING (\d+)/);
      if (m) resolve(Number(m[1]));
    });
  });
  return { url: `http://127.0.0.1:${port}/mcp`, stop: () => child.stdin.end() };
}

/** One JSON-RPC call on /mcp with `token`; the answer may come as JSON or as an SSE stream. */
async function mcp(token, session, body) {
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  if (session) Object.assign(headers, { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" });
  const response = await fetch(`${base}/mcp`, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.status < 300, `${body.method}: ${response.status} ${text}`);
  const json = (response.headers.get("content-type") ?? "").startsWith("text/event-stream")
    ? text.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5))).find((m) => m.id === body.id)
    : text ? JSON.parse(text) : null;
  return { json, session: response.headers.get("mcp-session-id") ?? session };
}

/** Signs `username` in on /auth/login and opens an MCP session with the user's token. */
async function mcpSession(username, password) {
  const login = await fetch(`${base}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  assert.equal(login.status, 200, await login.clone().text());
  const { access_token: token } = await login.json();
  const init = await mcp(token, null, {
    jsonrpc: "2.0", id: 1, method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "console-test", version: "1" } },
  });
  await mcp(token, init.session, { jsonrpc: "2.0", method: "notifications/initialized" });
  return { token, session: init.session };
}

async function toolsOnMcp(username, password) {
  const { token, session } = await mcpSession(username, password);
  const listed = await mcp(token, session, { jsonrpc: "2.0", id: 2, method: "tools/list" });
  return listed.json.result.tools.map((t) => t.name).sort();
}

test("MCP servers and users: a backend added in the console goes online; a restricted user sees only the permitted tool on /mcp", async () => {
  const fixture = await startFixture();
  const { context, page, errors } = await newPage();
  try {
    await signIn(page, "root", PASSWORD);
    await page.click("nav >> text=MCP servers");
    assert.equal(new URL(page.url()).pathname, "/admin/mcp-servers");
    await page.fill("#name", "fx");
    await page.fill("#url", fixture.url);
    await page.selectOption("#auth_type", "bearer");
    await page.fill("#auth_token", "console-test-secret");
    await Promise.all([page.waitForNavigation(), page.click("#add-server button[type=submit]")]);
    assert.match(await page.textContent("[role=status]"), /Backend fx added/);
    assert.ok(!(await page.content()).includes("console-test-secret"), "the token is never echoed");
    const row = page.locator("tr[data-server=fx]");
    await waitFor("fx to go online", async () => {
      await page.reload();
      return (await row.locator(".state").textContent()) === "online";
    });
    assert.equal((await row.locator("td.num").textContent()).trim(), "2");
    await shot(page, "mcp-servers");
    await Promise.all([page.waitForNavigation(), row.locator("a").first().click()]);
    assert.deepEqual(await page.locator("#tools code").allTextContents(), ["fx_echo", "fx_add"]);
    await shot(page, "mcp-server-detail");

    await page.click("nav >> text=Users");
    await page.fill("#username", "carol");
    await page.fill("#email", "carol@example.test");
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click("#create-user button[type=submit]")]);
    assert.match(await page.textContent("[role=status]"), /User carol created/);
    await shot(page, "users");
    const carol = page.locator("tr[data-user=carol]");
    await Promise.all([page.waitForNavigation(), carol.locator("text=Permissions").click()]);
    await page.selectOption("select[name=server_0]", "fx");
    await page.fill("input[name=tools_0]", "fx_echo");
    await Promise.all([page.waitForNavigation(), page.click("#permissions button[type=submit]")]);
    assert.match(await page.textContent("[role=status]"), /Permissions saved/);
    await shot(page, "user-permissions");

    // The routing table follows the backends asynchronously: wait until carol sees a tool.
    let seen = [];
    await waitFor("carol to see a tool on /mcp", async () => (seen = await toolsOnMcp("carol", PASSWORD)).length > 0);
    assert.deepEqual(seen, ["fx_echo"]);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    fixture.stop();
  }
});

test("CSRF on the users and servers forms: a tampered or missing token is refused with 403", async () => {
  const { context, page } = await newPage();
  await signIn(page, "root", PASSWORD);
  await page.goto(`${base}/admin/users`);
  await page.locator("#create-user input[name=csrf_token]").evaluate((el) => (el.value = "forged"));
  await page.fill("#username", "mallory");
  await page.fill("#email", "mallory@example.test");
  await page.fill("#password", PASSWORD);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/admin/users") && r.request().method() === "POST"),
    page.click("#create-user button[type=submit]"),
  ]);
  assert.equal(response.status(), 403);
  assert.equal(await page.textContent("h1"), "Form expired");
  for (const path of ["/admin/mcp-servers", "/admin/users", "/admin/users/1/revoke"]) {
    const noToken = await context.request.post(`${base}${path}`, {
      form: { name: "x", url: "http://127.0.0.1:9/mcp", username: "mallory" },
      maxRedirects: 0,
    });
    assert.equal(noToken.status(), 403, path);
  }
  await page.goto(`${base}/admin/users`);
  assert.equal(await page.locator("tr[data-user=mallory]").count(), 0);
  await context.close();
});

test("MCP activity, security events, audit: a tools/call through /mcp appears in the live table without a reload; the chain verifies", async () => {
  const fixture = await startFixture();
  const { context, page, errors } = await newPage();
  try {
    await signIn(page, "root", PASSWORD);
    // A backend, and a user allowed everywhere, through the admin API with the console's cookie.
    const csrf = (await context.cookies()).find((c) => c.name === "csrf_token").value;
    const api = async (method, path, data) => {
      const response = await context.request.fetch(`${base}${path}`, { method, data, headers: { "X-CSRF-Token": csrf } });
      assert.ok(response.ok(), `${method} ${path}: ${response.status()} ${await response.text()}`);
      return response.json();
    };
    await api("POST", "/admin/api/mcp-servers", { name: "fy", url: fixture.url });
    const registered = await fetch(`${base}/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "dave", email: "dave@example.test", password: PASSWORD }),
    });
    assert.ok(registered.ok, `register: ${registered.status}`);
    const dave = (await api("GET", "/admin/api/users")).users.find((u) => u.username === "dave");
    await api("POST", `/admin/api/users/${dave.id}/grant-all-backends`);
    await waitFor("dave to see fy_echo on /mcp", async () => (await toolsOnMcp("dave", PASSWORD)).includes("fy_echo"));

    await page.click("nav a[href=\"/admin/mcp-activity\"]");
    assert.equal(new URL(page.url()).pathname, "/admin/mcp-activity");
    await page.fill("#tool", "fy_echo");
    await Promise.all([page.waitForNavigation(), page.click("#filters button[type=submit]")]);
    assert.equal(new URL(page.url()).searchParams.get("tool"), "fy_echo");
    // The feed is open once the script says so (the stream's first bytes arrived).
    await page.waitForFunction(() => document.getElementById("live-status").textContent.startsWith("Live:"));
    assert.equal(await page.locator("#requests tbody tr").count(), 0, "no fy_echo call yet");

    const { token, session } = await mcpSession("dave", PASSWORD);
    const called = await mcp(token, session, {
      jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "fy_echo", arguments: { text: "from the browser" } },
    });
    assert.ok(called.json.result, JSON.stringify(called.json));
    const row = page.locator("#requests tbody tr.live-new").first();
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    assert.deepEqual(cells.slice(2, 7), ["dave", "tools/call", "fy", "fy_echo", "ok"]);
    assert.match(cells[1], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    await shot(page, "mcp-activity");
    await Promise.all([page.waitForNavigation(), row.locator("a").click()]);
    assert.match(await page.textContent("h1"), /^Audit record \d+$/);
    assert.match(await page.textContent("#record"), /fy_echo/);
    await shot(page, "mcp-request");

    await page.click("nav a[href=\"/admin/security-logs\"]");
    assert.equal(new URL(page.url()).pathname, "/admin/security-logs");
    await page.waitForFunction(() => document.getElementById("live-status").textContent.startsWith("Live:"));
    await shot(page, "security-logs");

    await page.click("nav a[href=\"/admin/logs\"]");
    assert.equal(new URL(page.url()).pathname, "/admin/logs");
    await Promise.all([page.waitForNavigation(), page.click("#verify button[type=submit]")]);
    assert.match(await page.textContent("#verdict"), /^Hash chain intact: \d+ records verified/);
    await shot(page, "audit-log");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    fixture.stop();
  }
});

test("server detail: the test-connection button shows the result; prompts and resources are listed", async () => {
  const fixture = await startFixture(["--rich"]);
  const { context, page, errors } = await newPage();
  try {
    await signIn(page, "root", PASSWORD);
    await page.goto(`${base}/admin/mcp-servers`);
    await page.fill("#name", "rich");
    await page.fill("#url", fixture.url);
    await Promise.all([page.waitForNavigation(), page.click("#add-server button[type=submit]")]);
    const row = page.locator("tr[data-server=rich]");
    await waitFor("rich to go online", async () => {
      await page.reload();
      return (await row.locator(".state").textContent()) === "online";
    });
    await Promise.all([page.waitForNavigation(), row.locator("a").first().click()]);
    assert.ok((await page.locator("#prompts code").allTextContents()).includes("rich_greet"));
    assert.ok((await page.locator("#resources code").allTextContents()).includes("fixture://static"));
    await Promise.all([page.waitForNavigation(), page.click("#test-connection")]);
    assert.match(await page.textContent("#test-result"), /Connection OK in \d+ ms: .*protocol .*, \d+ tools/);
    // The live status is still the health loop's.
    assert.equal(await page.textContent("h1 .state"), "online");
    await shot(page, "mcp-server-detail-tested");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    fixture.stop();
  }
});

test("Settings: a runtime setting changed on the page takes effect at once and clears back to the file", async () => {
  const { context, page, errors } = await newPage();
  try {
    await signIn(page, "root", PASSWORD);
    await page.click("nav >> text=Settings");
    assert.equal(new URL(page.url()).pathname, "/admin/settings");
    const register = (name) =>
      fetch(`${base}/auth/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: name, email: `${name}@example.test`, password: PASSWORD }),
      });
    // The file opens registration; the database switches it off.
    const row = page.locator('tr[data-key="auth.allow_registration"]');
    await row.locator("select[name=value]").selectOption("false");
    await Promise.all([page.waitForNavigation(), row.locator("form.set-runtime button").click()]);
    assert.match(await page.textContent("[role=status]"), /auth\.allow_registration is set in the database/);
    assert.match(await row.textContent(), /overrides the file; SIGHUP keeps it/);
    assert.equal((await register("late")).status, 403);
    await shot(page, "settings");
    await Promise.all([page.waitForNavigation(), row.locator("button", { hasText: "Clear" }).click()]);
    assert.match(await page.textContent("[role=status]"), /back to the file's value/);
    assert.equal((await register("later")).status, 201);
    await Promise.all([page.waitForNavigation(), page.click("#reload-config button")]);
    assert.match(await page.textContent("[role=status]"), /Configuration reloaded/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("Security audit: a scan of the gateway itself shows findings by severity and an export link", async () => {
  const { context, page, errors } = await newPage();
  try {
    await signIn(page, "root", PASSWORD);
    await page.click("nav >> text=Security audit");
    assert.equal(new URL(page.url()).pathname, "/admin/mcp-audit");
    await page.fill("#url", `${base}/mcp`);
    await page.fill("#token", "console-scan-token");
    await Promise.all([page.waitForNavigation(), page.click("#run-audit button[type=submit]")]);
    await page.waitForSelector("#audit-report");
    assert.equal(await page.inputValue("#token"), "", "the token is not echoed");
    const href = await page.getAttribute("#download-report", "href");
    assert.ok(href.startsWith("data:application/json;base64,"));
    const report = JSON.parse(Buffer.from(href.split(",")[1], "base64").toString());
    assert.equal(report.target, `${base}/mcp`);
    await shot(page, "mcp-audit");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("Tokens and OAuth clients: an API token created on the Tokens page works on /mcp; a client's secret is rotated and shown once", async () => {
  const registered = await fetch(`${base}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "Console test client",
      redirect_uris: ["https://client.example.test/cb"],
      token_endpoint_auth_method: "client_secret_basic",
    }),
  });
  assert.equal(registered.status, 201, await registered.clone().text());
  const client = await registered.json();
  const { context, page, errors } = await newPage();
  try {
    await signIn(page, "root", PASSWORD);
    await page.click("nav >> text=Tokens");
    assert.equal(new URL(page.url()).pathname, "/admin/mcp-tokens");
    await page.fill("#token_name", "browser-ci");
    await page.fill("#expires_days", "30");
    await Promise.all([page.waitForNavigation(), page.click("#create-api-token button[type=submit]")]);
    assert.equal(await page.textContent("h1"), "New API token");
    const token = (await page.textContent("[data-secret=api_token]")).trim();
    assert.match(token, /\S{20,}/);
    await shot(page, "mcp-token-created");
    // The token acts as root on /mcp.
    const init = await mcp(token, null, {
      jsonrpc: "2.0", id: 1, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "console-test", version: "1" } },
    });
    await mcp(token, init.session, { jsonrpc: "2.0", method: "notifications/initialized" });
    const listed = await mcp(token, init.session, { jsonrpc: "2.0", id: 2, method: "tools/list" });
    assert.ok(Array.isArray(listed.json.result.tools), JSON.stringify(listed.json));
    // Back on the Tokens page the token is listed, never shown.
    await page.click("nav >> text=Tokens");
    assert.equal(await page.locator("tr[data-api-token=browser-ci]").count(), 1);
    assert.ok(!(await page.content()).includes(token), "the token is shown again");
    await shot(page, "mcp-tokens");

    await page.click("nav >> text=OAuth clients");
    assert.equal(new URL(page.url()).pathname, "/admin/oauth-clients");
    const row = page.locator(`tr[data-client="${client.client_id}"]`);
    assert.match(await row.textContent(), /confidential/);
    await shot(page, "oauth-clients");
    await Promise.all([page.waitForNavigation(), row.locator("a").first().click()]);
    // The rotate form asks first (the console's script); accept the question.
    page.once("dialog", (d) => d.accept());
    await Promise.all([page.waitForNavigation(), page.click("#rotate-secret button")]);
    const secret = (await page.textContent("[data-secret=client_secret]")).trim();
    assert.notEqual(secret, client.client_secret);
    await shot(page, "oauth-client-secret-rotated");
    const basic = (s) => "Basic " + Buffer.from(`${client.client_id}:${s}`).toString("base64");
    const tokenWith = (s) => fetch(`${base}/oauth/token`, {
      method: "POST",
      headers: { authorization: basic(s), "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=refresh_token&refresh_token=none",
    });
    // The old secret no longer authenticates the client (401); the new one does (the grant
    // itself is then judged: 400 for this made-up refresh token).
    assert.equal((await tokenWith(client.client_secret)).status, 401);
    assert.equal((await tokenWith(secret)).status, 400);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
