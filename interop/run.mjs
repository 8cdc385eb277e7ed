// The interop run: real MCP clients and the MCP conformance suite against real servers,
// either directly (mode `direct`) or through the gateway (mode `gateway`; `both` runs both).
//
//   node run.mjs [--mode direct|gateway|both] [--keep]     (run.sh installs what this needs)
//
// Backends: @modelcontextprotocol/server-everything (for the clients) and the project's rmcp
// conformance fixture (examples/conformance_fixture, for the suite), each on a free loopback
// port. Gateway mode starts target/debug/authmcp-gateway in front of both (`everything` with
// the default tool_prefix, `conformance` with tool_prefix = ""), logs in as a fresh admin, and
// runs the clients against /mcp and /mcp/everything and the suite — through a loopback proxy
// that adds the bearer token — against /mcp/conformance and /mcp. Then the OAuth targets: an
// ordinary user is registered and granted every backend, the TypeScript SDK's OAuth client logs
// in as that user through the gateway's authorization server (DCR, then CIMD) and uses /mcp, and
// the 0.2.0-alpha.12 suite's `authorization` mode tests the authorization server itself. Results
// are compared with expected-results.json: an expected pass that fails is a regression and fails
// the run.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startAuthProxy } from './lib/auth-proxy.mjs';
import { runAuthorizationConformance } from './lib/authorization-conformance.mjs';
import { runClients } from './lib/clients.mjs';
import { runConformance } from './lib/conformance.mjs';
import { registerUser, startGateway } from './lib/gateway.mjs';
import { runOAuthClients } from './lib/oauth-clients.mjs';
import { startServer, stopAll } from './lib/processes.mjs';
import { judge, printReport } from './lib/report.mjs';

const interopDir = dirname(fileURLToPath(import.meta.url));
const repoDir = resolve(interopDir, '..');
const { values: options } = parseArgs({
  options: {
    mode: { type: 'string', default: process.env.INTEROP_MODE || 'direct' },
    keep: { type: 'boolean', default: false },
  },
});
if (!['direct', 'gateway', 'both'].includes(options.mode)) {
  console.error(`interop: unknown mode "${options.mode}" (use direct, gateway or both)`);
  process.exit(2);
}
const python = process.env.INTEROP_PYTHON || join(interopDir, '.venv', 'bin', 'python');
const fixtureBin = process.env.INTEROP_FIXTURE_BIN || join(repoDir, 'target', 'debug', 'examples', 'conformance_fixture');
const gatewayBin = process.env.INTEROP_GATEWAY_BIN || join(repoDir, 'target', 'debug', 'authmcp-gateway');
const expected = JSON.parse(readFileSync(join(interopDir, 'expected-results.json'), 'utf8'));

const runDir = mkdtempSync(join(tmpdir(), 'authmcp-interop-'));
const logDir = join(runDir, 'logs');
mkdirSync(logDir);
// Children get the caller's PATH (node 22 first, as run.sh sets it) and nothing secret.
const env = { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', NO_COLOR: '1' };

// Interrupted: stop the servers (the gateway does not watch stdin) before going.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    console.log(`interop: ${signal}, stopping servers; logs in ${runDir}`);
    stopAll().finally(() => process.exit(130));
  });
}

const targets = [];
async function conformanceTarget(group, label, url) {
  const { results } = await runConformance({
    label, url, interopDir, outputDir: join(runDir, `conformance-${label}`), logDir, env,
  });
  targets.push({ key: `conformance:${label}`, group, url, results });
}
async function conformanceNextTarget(group, label, url, scenario) {
  const { results } = await runConformance({
    label: `next-${label}`, url, interopDir, outputDir: join(runDir, `conformance-next-${label}`), logDir, env,
    suite: 'conformance-next', scenario,
  });
  targets.push({ key: `conformance-next:${label}`, group, url, results });
}
async function clientsTarget(group, label, url, prefix, token) {
  const results = await runClients({ label, url, prefix, token, interopDir, python, logDir, env });
  targets.push({ key: `clients:${label}`, group, url, results });
}

let setupError;
const started = Date.now();
try {
  const fixturePort = await startServer({
    name: 'conformance-fixture', command: fixtureBin, args: ['--port', '0'], env, cwd: runDir, logDir,
  });
  const everythingPort = await startServer({
    name: 'server-everything',
    command: 'node',
    args: ['-r', join(interopDir, 'lib', 'loopback-only.cjs'),
      join(interopDir, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js'),
      'streamableHttp'],
    env: { ...env, PORT: '0', INTEROP_EXIT_ON_STDIN_EOF: '1' },
    cwd: runDir,
    logDir,
  });
  const fixtureUrl = `http://127.0.0.1:${fixturePort}/mcp`;
  const everythingUrl = `http://127.0.0.1:${everythingPort}/mcp`;

  if (options.mode !== 'gateway') {
    await conformanceTarget('direct', 'direct', fixtureUrl);
    // The same suite through the header-injecting proxy proves the proxy transparent, so a
    // gateway-mode difference is the gateway's.
    const proxy = await startAuthProxy({ targetPort: fixturePort, targetPath: '/mcp', token: 'interop-direct' });
    await conformanceTarget('direct', 'direct-via-auth-proxy', `http://127.0.0.1:${proxy.port}/mcp`);
    proxy.close();
    await clientsTarget('direct', 'direct', everythingUrl, '', 'interop-direct-no-auth');
    await conformanceNextTarget('direct', 'direct', fixtureUrl, 'server-sse-polling');
  }
  if (options.mode !== 'direct') {
    const gateway = await startGateway({
      binary: gatewayBin,
      runDir,
      logDir,
      backends: [
        { name: 'everything', url: everythingUrl },
        { name: 'conformance', url: fixtureUrl, toolPrefix: '' },
      ],
    });
    await clientsTarget('gateway', 'gateway-aggregate', `${gateway.baseUrl}/mcp`, 'everything_', gateway.token);
    await clientsTarget('gateway', 'gateway-single', `${gateway.baseUrl}/mcp/everything`, '', gateway.token);
    for (const [label, path] of [['gateway-single', '/mcp/conformance'], ['gateway-aggregate', '/mcp']]) {
      const proxy = await startAuthProxy({ targetPort: gateway.port, targetPath: path, token: gateway.token });
      await conformanceTarget('gateway', label, `http://127.0.0.1:${proxy.port}/mcp`);
      proxy.close();
    }
    {
      const proxy = await startAuthProxy({ targetPort: gateway.port, targetPath: '/mcp/conformance', token: gateway.token });
      await conformanceNextTarget('gateway', 'gateway-single', `http://127.0.0.1:${proxy.port}/mcp`, 'server-sse-polling');
      proxy.close();
    }

    // OAuth: an ordinary user (not the admin) logs in through the gateway's own AS.
    const user = { username: 'interop-oauth-user', password: 'Interop-OAuth-Pa55word!' };
    await registerUser({ baseUrl: gateway.baseUrl, adminToken: gateway.token, ...user });
    for (const [label, path, prefix] of [['gateway-aggregate', '/mcp', 'everything_'], ['gateway-single', '/mcp/everything', '']]) {
      const url = `${gateway.baseUrl}${path}`;
      targets.push({ key: `oauth:${label}`, group: 'gateway', url,
        results: await runOAuthClients({ label, url, prefix, user, interopDir, logDir, env }) });
    }
    targets.push({ key: 'conformance-authorization:gateway', group: 'gateway', url: gateway.baseUrl,
      results: await runAuthorizationConformance({ label: 'gateway', baseUrl: gateway.baseUrl, user, interopDir,
        outputDir: join(runDir, 'conformance-authorization-gateway'), logDir, env }) });
  }
} catch (error) {
  setupError = error instanceof Error ? error.message : String(error);
} finally {
  await stopAll();
}

const verdict = judge(targets, expected);
printReport({ targets, verdict, setupError, runDir, seconds: (Date.now() - started) / 1000 });
writeFileSync(join(runDir, 'results.json'), JSON.stringify({ verdict, setupError,
  targets: targets.map((t) => ({ ...t, results: Object.fromEntries(t.results) })) }, null, 2));
const failed = verdict.regressions.length > 0 || setupError !== undefined;
if (failed || options.keep) {
  console.log(`interop: logs and results kept in ${runDir}`);
} else {
  rmSync(runDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
