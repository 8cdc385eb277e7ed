// The TypeScript SDK's OAuth client (clients/sdk-oauth-client.mjs) against the gateway, twice:
// once registering itself (DCR), once identified by a Client ID Metadata Document that this
// module serves from a loopback http server (the gateway runs with `oauth.cimd_allow_private`,
// the only way it fetches from loopback or over plain http).
//
// SDK 1.32.2 uses a metadata document URL only when it is https (`isHttpsUrl`), and the gateway
// trusts only the public web PKI, so no loopback document can be served over https here. The CIMD
// run therefore starts with the document URL as its client id (the SDK's client information),
// exactly what the SDK itself would store after choosing CIMD: what is exercised is the gateway
// fetching and applying the document, and the SDK's flow with a URL client id.
import http from 'node:http';
import { join } from 'node:path';
import { runProgram } from './processes.mjs';

/** Serves one client metadata document at /oauth/client-metadata.json; resolves with { url, close }. */
function serveClientMetadata(redirectUri) {
  let document;
  const requests = [];
  const server = http.createServer((request, response) => {
    requests.push(request.url);
    if (request.method === 'GET' && request.url === '/oauth/client-metadata.json') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      response.end(JSON.stringify(document));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const url = `http://127.0.0.1:${server.address().port}/oauth/client-metadata.json`;
      document = {
        client_id: url,
        client_name: 'authmcp interop SDK client (cimd)',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      };
      resolve({ url, requests, close: () => server.close() });
    });
  });
}

function summaryOf(outcome) {
  try {
    const summary = JSON.parse(outcome.stdout);
    const failedSteps = summary.steps.filter((s) => !s.ok).map((s) => `${s.step}: ${s.error}`);
    return { ok: outcome.code === 0 && summary.failed === 0, detail: `${summary.passed} steps ok`, errors: failedSteps };
  } catch {
    return { ok: false, detail: '', errors: [outcome.error ?? `exit ${outcome.signal ?? outcome.code}, no JSON summary`] };
  }
}

/**
 * Runs the OAuth client against `url` (the gateway's /mcp) as `user` ({ username, password });
 * resolves with Map<client, { ok, detail, errors }>.
 */
export async function runOAuthClients({ label, url, prefix, user, interopDir, logDir, env }) {
  const clientEnv = { ...env, MCP_OAUTH_USERNAME: user.username, MCP_OAUTH_PASSWORD: user.password };
  // Never followed (the code is read from the Location header), so nothing listens there.
  const redirectUri = 'http://127.0.0.1:8976/callback';
  const run = (name, extra) => runProgram({
    name: `${name}-${label}`,
    command: 'node',
    args: [join(interopDir, 'clients', 'sdk-oauth-client.mjs'), '--url', url, '--prefix', prefix,
      '--redirect-uri', redirectUri, ...extra],
    env: clientEnv,
    cwd: interopDir,
    logDir,
  });
  const results = new Map();
  results.set('typescript-sdk-oauth-dcr', summaryOf(await run('sdk-oauth-dcr', [])));
  const metadata = await serveClientMetadata(redirectUri);
  try {
    const cimd = summaryOf(await run('sdk-oauth-cimd', ['--client-id-url', metadata.url]));
    // The gateway must have fetched the document itself (nothing else knows its URL).
    if (!metadata.requests.includes('/oauth/client-metadata.json')) {
      cimd.ok = false;
      cimd.errors.push('the gateway never fetched the client metadata document');
    }
    results.set('typescript-sdk-oauth-cimd', cimd);
  } finally {
    metadata.close();
  }
  return results;
}
