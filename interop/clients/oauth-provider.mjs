// The OAuthClientProvider of clients/sdk-oauth-client.mjs (the SDK 1.32.2 interface): an MCP
// client's OAuth state kept in memory, whose "browser" is lib/oauth-browser.mjs. Each trip to
// /authorize is recorded (what the SDK asked for, the pages walked, where the redirect went), and
// the code on the redirect is kept for finishAuth() after the checks a client makes on it.
import { randomBytes } from 'node:crypto';
import { createBrowser } from '../lib/oauth-browser.mjs';

export class HeadlessProvider {
  /**
   * `clientIdUrl`: start with a Client ID Metadata Document URL as the client id (no DCR);
   * `issuer`: what the redirect's RFC 9207 `iss` must say.
   */
  constructor({ username, password, redirectUri, clientIdUrl, issuer, label }) {
    this.browser = createBrowser({ username, password, fetchFn: fetch });
    this.redirectUri = redirectUri;
    this.issuer = issuer;
    this.label = label;
    this.client = clientIdUrl ? { client_id: clientIdUrl } : undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.expectedState = undefined;
    this.authorizations = [];
  }

  get redirectUrl() { return this.redirectUri; }

  get clientMetadata() {
    return {
      client_name: `authmcp interop SDK client (${this.label})`,
      redirect_uris: [this.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.expectedState = randomBytes(16).toString('base64url');
    return this.expectedState;
  }

  clientInformation() { return this.client; }
  saveClientInformation(information) { this.client = information; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }

  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }

  forgetRefreshToken() {
    if (this.saved) this.saved = { ...this.saved, refresh_token: undefined };
  }

  /** The user's browser at /authorize: the code comes back on the redirect, kept for finishAuth. */
  async redirectToAuthorization(authorizationUrl) {
    const query = authorizationUrl.searchParams;
    const { redirect, pages } = await this.browser.authorize(authorizationUrl);
    const record = {
      scope: query.get('scope'),
      resource: query.get('resource'),
      client_id: query.get('client_id'),
      code_challenge_method: query.get('code_challenge_method'),
      has_code_challenge: query.has('code_challenge'),
      pages,
      redirect: `${redirect.origin}${redirect.pathname}`,
      error: redirect.searchParams.get('error') ?? undefined,
      state_ok: redirect.searchParams.get('state') === this.expectedState,
      iss: redirect.searchParams.get('iss'),
      code: redirect.searchParams.get('code') ?? undefined,
    };
    this.authorizations.push(record);
  }

  /** The code of the last authorization, once: checked as a client checks a redirect. */
  takeCode() {
    const last = this.authorizations.at(-1);
    if (!last) throw new Error('the SDK never sent the user to /authorize');
    if (last.error) throw new Error(`/authorize redirected back with error=${last.error}`);
    if (!last.state_ok) throw new Error('the redirect back carries the wrong state');
    if (last.iss !== this.issuer) throw new Error(`the redirect back carries iss=${last.iss}, not ${this.issuer} (RFC 9207)`);
    if (!last.code) throw new Error('the redirect back carries no code');
    const { code } = last;
    last.code = '(used)';
    return code;
  }
}
