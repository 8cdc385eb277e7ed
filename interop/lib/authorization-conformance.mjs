// `conformance authorization` (0.2.0-alpha.12, the `conformance-next` alias) against the
// gateway's authorization server: `authorization-server-metadata-endpoint` and
// `authorization-code-grant`, run together (the grant scenario reads the metadata the first one
// fetched, so it cannot run alone).
//
// The grant scenario needs a registered client and a person at a browser: this module registers
// a public client (DCR, redirect http://127.0.0.1:<port>/callback, the suite's callback server),
// waits for the suite to print the authorization URL, logs in and approves with
// lib/oauth-browser.mjs, and delivers the redirect to the suite's callback — the suite then
// exchanges the code (PKCE, `resource`) and checks the token response itself.
import net from 'node:net';
import { conformanceCli, readResults } from './conformance.mjs';
import { createBrowser } from './oauth-browser.mjs';
import { runProgram } from './processes.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function registerClient(baseUrl, redirectUri) {
  const answer = await fetch(`${baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'MCP conformance suite (authorization-code-grant)',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  if (answer.status !== 201) throw new Error(`POST /oauth/register answered ${answer.status}: ${await answer.text()}`);
  return (await answer.json()).client_id;
}

/**
 * Resolves with Map<scenario, { ok, passed, failed, warnings, errors }>; a failure of the
 * browser side (the login or consent step) is added to the grant scenario's errors.
 */
export async function runAuthorizationConformance({ label, baseUrl, user, interopDir, outputDir, logDir, env }) {
  const port = await freePort();
  const clientId = await registerClient(baseUrl, `http://127.0.0.1:${port}/callback`);
  const browser = createBrowser({ username: user.username, password: user.password });
  let browsing;
  const outcome = await runProgram({
    name: `conformance-authorization-${label}`,
    command: 'node',
    args: [conformanceCli(interopDir, 'conformance-next'), 'authorization', '--url', baseUrl,
      '--client-id', clientId, '--resource', `${baseUrl}/mcp`, '--port', String(port), '-o', outputDir],
    env,
    cwd: interopDir,
    logDir,
    deadlineMs: 120_000,
    onStdout: (stdout) => {
      if (browsing) return;
      const printed = stdout.match(/^(https?:\/\/\S+\/authorize\?\S+)$/m);
      if (!printed) return;
      // The suite waits (up to five minutes) for its callback: a browser failure must end the
      // wait, so the failed redirect is replaced by an error callback the suite reports.
      browsing = browser.authorize(printed[1])
        .then(({ redirect }) => fetch(redirect).then((answer) => answer.text()).then(() => undefined))
        .catch(async (error) => {
          const failed = new URL(`http://127.0.0.1:${port}/callback`);
          failed.searchParams.set('error', 'interop_browser_failed');
          failed.searchParams.set('error_description', error.message);
          await fetch(failed).catch(() => {});
          return error.message;
        });
    },
  });
  const results = readResults(outputDir, 'authorization-server');
  const browserError = browsing ? await browsing : 'the suite printed no authorization URL';
  if (browserError) {
    const grant = results.get('authorization-code-grant')
      ?? { ok: false, passed: 0, failed: 1, warnings: 0, errors: [] };
    grant.ok = false;
    grant.errors.push(`browser: ${browserError}`);
    results.set('authorization-code-grant', grant);
  }
  if (results.size === 0) {
    results.set('authorization-server-metadata-endpoint', {
      ok: false, passed: 0, failed: 1, warnings: 0, errors: [`the suite wrote no results (exit ${outcome.code})`],
    });
  }
  return results;
}
