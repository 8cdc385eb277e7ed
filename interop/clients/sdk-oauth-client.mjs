// The TypeScript SDK's own OAuth client (@modelcontextprotocol/sdk 1.32.2: `auth()`, an
// `OAuthClientProvider`, the Streamable HTTP transport's `authProvider`) logging in to the
// gateway headlessly, the whole way an MCP client does it the first time:
//
//   POST /mcp without a token → 401 + WWW-Authenticate → RFC 9728 protected-resource metadata →
//   RFC 8414 authorization-server metadata → a client id (DCR, or a Client ID Metadata Document
//   URL with --client-id-url) → /authorize (login page, consent page, filled in by
//   lib/oauth-browser.mjs; the redirect back is read, not followed) → /oauth/token with the PKCE
//   verifier and `resource` → tools/list and tools/call → a refresh through the SDK (asked for, then
//   forced by a 401) → step-up: a token for `mcp:prompts` only, a tools/call answered 403
//   insufficient_scope, the SDK re-authorizing with the scope the challenge names, the call
//   succeeding.
//
//   node sdk-oauth-client.mjs --url http://127.0.0.1:PORT/mcp --prefix everything_
//                             --redirect-uri http://127.0.0.1:P/callback [--client-id-url URL]
//   env MCP_OAUTH_USERNAME, MCP_OAUTH_PASSWORD: the gateway account the "user" logs in as.
//
// Every HTTP exchange goes through one recording fetch, so each step checks what actually went
// over the wire (statuses, the grant types and parameters of token requests), not only what the
// SDK reports. Prints a JSON summary like the other clients and exits non-zero on any failure.
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { HeadlessProvider } from './oauth-provider.mjs';

const { values: options } = parseArgs({
  options: {
    url: { type: 'string' },
    prefix: { type: 'string', default: '' },
    'redirect-uri': { type: 'string' },
    'client-id-url': { type: 'string' },
  },
});
const username = process.env.MCP_OAUTH_USERNAME;
const password = process.env.MCP_OAUTH_PASSWORD;
if (!options.url || !options['redirect-uri'] || !username || !password) {
  console.error('usage: sdk-oauth-client.mjs --url URL --redirect-uri URI [--prefix P] [--client-id-url URL]'
    + '  (env MCP_OAUTH_USERNAME, MCP_OAUTH_PASSWORD)');
  process.exit(2);
}
const serverUrl = new URL(options.url);
const issuer = serverUrl.origin;
const prefix = options.prefix;
const mode = options['client-id-url'] ? 'cimd' : 'dcr';

// ---- what went over the wire -------------------------------------------------------------
const exchanges = [];
async function recordingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : input);
  const method = init.method ?? (input instanceof Request ? input.method : 'GET');
  const entry = { method, path: url.pathname };
  if (url.pathname === '/oauth/token' && init.body) {
    const form = new URLSearchParams(String(init.body));
    entry.grant_type = form.get('grant_type');
    entry.code_verifier = form.has('code_verifier');
    entry.resource = form.get('resource');
    entry.scope = form.get('scope');
  }
  const response = await fetch(input, init);
  entry.status = response.status;
  entry.wwwAuthenticate = response.headers.get('www-authenticate') ?? undefined;
  exchanges.push(entry);
  if (response.status === 403 && /insufficient_scope/.test(entry.wwwAuthenticate ?? '')) {
    // SDK 1.32.2 answers a step-up challenge by refreshing first when it holds a refresh token,
    // and a refresh cannot widen a grant (RFC 6749 §6), so it would retry with the same token
    // and give up. A client that is told it needs more scope goes back to the user instead.
    provider.forgetRefreshToken();
  }
  return response;
}
const since = (mark) => exchanges.slice(mark);
const find = (list, predicate, what) => {
  const hit = list.find(predicate);
  if (!hit) throw new Error(`${what} not seen; exchanges: ${list.map((e) => `${e.method} ${e.path} ${e.status}`).join(', ')}`);
  return hit;
};

const provider = new HeadlessProvider({
  username, password, issuer, label: mode,
  redirectUri: options['redirect-uri'],
  clientIdUrl: options['client-id-url'],
});

// ---- steps -------------------------------------------------------------------------------
const steps = [];
let stop = false;
async function step(name, run) {
  if (stop) {
    steps.push({ step: name, ok: false, error: 'skipped: an earlier step failed' });
    return;
  }
  try {
    const detail = await run();
    steps.push({ step: name, ok: true, detail });
  } catch (error) {
    steps.push({ step: name, ok: false, error: error instanceof Error ? error.message : String(error) });
    stop = true;
  }
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}
function claims(accessToken) {
  const parts = accessToken.split('.');
  expect(parts.length === 3, 'the access token is not a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}
function newConnection() {
  const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider, fetch: recordingFetch });
  const client = new Client({ name: `authmcp-interop-sdk-oauth-${mode}`, version: '1.0.0' }, { capabilities: {} });
  return { transport, client };
}
async function echo(client, text) {
  const result = await client.callTool({ name: `${prefix}echo`, arguments: { message: text } });
  const reply = result.content?.find((c) => c.type === 'text')?.text ?? '';
  expect(!result.isError && reply.includes(text), `unexpected echo result ${JSON.stringify(result)}`);
  return reply;
}

let connection = newConnection();
let mark = 0;

await step('401 without a token', async () => {
  let error;
  try {
    await connection.client.connect(connection.transport);
  } catch (caught) {
    error = caught;
  }
  expect(error instanceof UnauthorizedError, `connect did not stop for authorization: ${error?.message ?? 'it connected'}`);
  const challenge = find(exchanges, (e) => e.path === serverUrl.pathname && e.status === 401, 'POST /mcp → 401');
  expect(/resource_metadata="/.test(challenge.wwwAuthenticate ?? ''), `WWW-Authenticate without resource_metadata: ${challenge.wwwAuthenticate}`);
  return { wwwAuthenticate: challenge.wwwAuthenticate };
});
await step('discovery (RFC 9728, RFC 8414)', async () => {
  const prm = find(exchanges, (e) => e.path.startsWith('/.well-known/oauth-protected-resource') && e.status === 200, 'protected-resource metadata');
  const asm = find(exchanges, (e) => (e.path.startsWith('/.well-known/oauth-authorization-server')
    || e.path.startsWith('/.well-known/openid-configuration')) && e.status === 200, 'authorization-server metadata');
  return { protectedResource: prm.path, authorizationServer: asm.path };
});
await step(mode === 'dcr' ? 'dynamic client registration' : 'client id metadata document', async () => {
  const registrations = exchanges.filter((e) => e.path === '/oauth/register');
  if (mode === 'dcr') {
    expect(registrations.length === 1 && registrations[0].status === 201, `POST /oauth/register: ${JSON.stringify(registrations)}`);
    expect(provider.client?.client_id && !provider.client.client_id.startsWith('http'), 'no registered client_id');
  } else {
    expect(registrations.length === 0, 'a client with a metadata document URL registered anyway');
    expect(provider.client?.client_id === options['client-id-url'], 'the client id is not the document URL');
  }
  return { client_id: provider.client?.client_id };
});
await step('authorize (login + consent)', async () => {
  const first = provider.authorizations[0];
  expect(first, 'the SDK never sent the user to /authorize');
  expect(first.code_challenge_method === 'S256' && first.has_code_challenge, 'no S256 code_challenge');
  expect(first.resource === serverUrl.href, `resource ${first.resource}, expected ${serverUrl.href}`);
  expect(first.client_id === provider.client.client_id, 'authorize used another client_id');
  expect(first.pages.includes('login') && first.pages.includes('consent'), `pages walked: ${first.pages.join(' → ')}`);
  expect(first.redirect === options['redirect-uri'], `redirected to ${first.redirect}`);
  return { scope: first.scope, pages: first.pages };
});
let firstTokens;
await step('token (authorization_code + PKCE + resource)', async () => {
  mark = exchanges.length;
  await connection.transport.finishAuth(provider.takeCode());
  const request = find(since(mark), (e) => e.grant_type === 'authorization_code', 'the code exchange');
  expect(request.status === 200, `/oauth/token answered ${request.status}`);
  expect(request.code_verifier, 'the code exchange carried no code_verifier');
  expect(request.resource === serverUrl.href, `the code exchange sent resource=${request.resource}`);
  firstTokens = provider.tokens();
  const jwt = claims(firstTokens.access_token);
  expect(jwt.aud === serverUrl.href || (Array.isArray(jwt.aud) && jwt.aud.includes(serverUrl.href)), `aud ${JSON.stringify(jwt.aud)}`);
  expect(jwt.client_id === provider.client.client_id, `client_id claim ${jwt.client_id}`);
  return { scope: firstTokens.scope, refresh_token: Boolean(firstTokens.refresh_token), expires_in: firstTokens.expires_in };
});
await step('initialize with the token', async () => {
  connection = newConnection();
  await connection.client.connect(connection.transport);
  expect(connection.transport.sessionId, 'no Mcp-Session-Id issued');
  return { protocolVersion: connection.transport.protocolVersion };
});
await step('tools/list', async () => {
  const { tools } = await connection.client.listTools();
  expect(tools.some((t) => t.name === `${prefix}echo`), `no ${prefix}echo among ${tools.length} tools`);
  return { count: tools.length };
});
await step('tools/call', async () => ({ text: await echo(connection.client, 'hello over OAuth') }));
await step('refresh (SDK auth() with a refresh token)', async () => {
  expect(firstTokens.refresh_token, 'the code exchange issued no refresh token');
  mark = exchanges.length;
  const result = await auth(provider, { serverUrl, fetchFn: recordingFetch });
  expect(result === 'AUTHORIZED', `auth() answered ${result}`);
  const request = find(since(mark), (e) => e.grant_type === 'refresh_token', 'a refresh_token grant');
  expect(request.status === 200, `refresh answered ${request.status}`);
  const now = provider.tokens();
  expect(now.access_token !== firstTokens.access_token, 'the same access token came back');
  expect(now.refresh_token && now.refresh_token !== firstTokens.refresh_token, 'the refresh token was not rotated');
  return { text: await echo(connection.client, 'hello after a refresh') };
});
await step('refresh forced by a 401', async () => {
  const held = provider.tokens();
  // The access token the client holds stops being accepted (here: its signature is spoiled, as
  // the gateway would see an expired one): the transport must get a new one with the refresh
  // token and retry, without a new authorization.
  const [header, body] = held.access_token.split('.');
  provider.saveTokens({ ...held, access_token: `${header}.${body}.AAAA` });
  mark = exchanges.length;
  const pagesBefore = provider.authorizations.length;
  const text = await echo(connection.client, 'hello after a 401');
  const seen = since(mark);
  find(seen, (e) => e.path === serverUrl.pathname && e.status === 401, 'the 401 for the spoiled token');
  find(seen, (e) => e.grant_type === 'refresh_token' && e.status === 200, 'a refresh after the 401');
  expect(provider.authorizations.length === pagesBefore, 'the SDK sent the user to /authorize again');
  return { text };
});
await connection.client.close().catch(() => {});

await step('narrow token (scope mcp:prompts)', async () => {
  provider.invalidateCredentials('tokens');
  const result = await auth(provider, { serverUrl, scope: 'mcp:prompts', fetchFn: recordingFetch });
  expect(result === 'REDIRECT', `auth() answered ${result}`);
  const last = provider.authorizations.at(-1);
  expect(last.scope === 'mcp:prompts', `authorize asked for scope ${last.scope}`);
  const finished = await auth(provider, { serverUrl, authorizationCode: provider.takeCode(), fetchFn: recordingFetch });
  expect(finished === 'AUTHORIZED', `the code exchange answered ${finished}`);
  const scope = claims(provider.tokens().access_token).scope;
  expect(scope === 'mcp:prompts', `the narrow token has scope ${scope}`);
  connection = newConnection();
  await connection.client.connect(connection.transport);
  const { prompts } = await connection.client.listPrompts();
  expect(prompts.length > 0, 'no prompts with scope mcp:prompts');
  return { scope, pages: last.pages, prompts: prompts.length };
});
await step('step-up: 403 insufficient_scope, re-authorize, call succeeds', async () => {
  mark = exchanges.length;
  const before = provider.authorizations.length;
  let error;
  try {
    await echo(connection.client, 'hello before step-up');
  } catch (caught) {
    error = caught;
  }
  const refusal = since(mark).find((e) => e.status === 403);
  expect(refusal, `tools/call with scope mcp:prompts got no 403 insufficient_scope; the call ${error ? `failed: ${error.message}` : 'succeeded'}`);
  expect(/error="insufficient_scope"/.test(refusal.wwwAuthenticate ?? ''), `403 without insufficient_scope: ${refusal.wwwAuthenticate}`);
  const challenged = refusal.wwwAuthenticate.match(/scope="([^"]*)"/)?.[1];
  expect(challenged, `the challenge names no scope: ${refusal.wwwAuthenticate}`);
  expect(error instanceof UnauthorizedError, `the SDK did not go back to the user: ${error?.message ?? 'the call succeeded'}`);
  expect(provider.authorizations.length === before + 1, 'no second authorization');
  const again = provider.authorizations.at(-1);
  expect(again.scope === challenged, `re-authorization asked for ${again.scope}, the challenge for ${challenged}`);
  await connection.transport.finishAuth(provider.takeCode());
  const scope = claims(provider.tokens().access_token).scope;
  const text = await echo(connection.client, 'hello after step-up');
  return { challenged, scope, pages: again.pages, text };
});
await connection.client.close().catch(() => {});

const failed = steps.filter((s) => !s.ok).length;
console.log(JSON.stringify({
  client: `typescript-sdk@1.32.2 oauth (${mode})`,
  url: options.url,
  passed: steps.length - failed,
  failed,
  steps,
  exchanges: exchanges.map(({ wwwAuthenticate, ...rest }) => rest),
}, null, 2));
process.exit(failed === 0 ? 0 : 1);
