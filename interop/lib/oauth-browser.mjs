// A headless stand-in for the user's browser at the gateway's /authorize: it opens the
// authorization URL, fills in the login form (username, password) and approves the consent form
// the way a person would, with nothing but HTTP — the pages are plain HTML POST forms — and stops
// at the redirect back to the client, which it returns instead of following.
//
// The form contract (web/src/oauth/authorize*): both pages POST to /authorize form-encoded with
// hidden fields `request` and `csrf_token`; the login form adds `username`, `password` and the
// submit `action=login`, the consent form the submit `decision=approve|deny`. The AS keeps its
// login session in a cookie, so cookies are kept between requests like a browser would.

const MAX_STEPS = 8;

/** Cookies by name, as a browser keeps them for one origin (attributes are not needed here). */
class CookieJar {
  #cookies = new Map();

  store(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) this.#cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

function attribute(tag, name) {
  const match = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  return match ? decodeEntities(match[1] ?? match[2] ?? match[3]) : undefined;
}

/**
 * The first POST form of a page: its action and the values of its named inputs and buttons
 * (`<input … name value>`, `<button name value>`). Which page it is follows from its fields.
 */
export function parseForm(html, pageUrl) {
  const form = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i);
  if (!form) return undefined;
  const open = form[0].match(/<form\b[^>]*>/i)[0];
  const fields = new Map();
  const buttons = new Map();
  for (const [tag] of form[0].matchAll(/<(?:input|button)\b[^>]*>/gi)) {
    const name = attribute(tag, 'name');
    if (!name) continue;
    const value = attribute(tag, 'value') ?? '';
    const type = (attribute(tag, 'type') ?? (tag.toLowerCase().startsWith('<button') ? 'submit' : 'text')).toLowerCase();
    if (type === 'submit') {
      if (!buttons.has(name)) buttons.set(name, []);
      buttons.get(name).push(value);
    } else {
      fields.set(name, value);
    }
  }
  const action = new URL(attribute(open, 'action') ?? pageUrl, pageUrl);
  const method = (attribute(open, 'method') ?? 'get').toLowerCase();
  return { action, method, fields, buttons };
}

function pageKind(form) {
  if (!form) return 'no-form';
  if (form.fields.has('password')) return 'login';
  if (form.buttons.has('decision')) return 'consent';
  return 'unknown-form';
}

/**
 * One user's browser: `authorize(url)` walks an authorization from `url` to the redirect back to
 * the client and resolves with { redirect: URL, pages: ['login', 'consent', …] }; it rejects
 * with what the page said when the flow goes anywhere else (an error page, an unknown form).
 * Cookies persist across authorizations, so a second one finds the AS login session.
 */
export function createBrowser({ username, password, fetchFn = fetch }) {
  const jar = new CookieJar();
  return {
    authorize: (authorizationUrl, decision = 'approve') =>
      walk({ authorizationUrl, username, password, decision, fetchFn, jar }),
  };
}

async function walk({ authorizationUrl, username, password, decision, fetchFn, jar }) {
  const asOrigin = new URL(authorizationUrl).origin;
  const pages = [];
  let request = { url: new URL(authorizationUrl), init: { method: 'GET' } };
  for (let step = 0; step < MAX_STEPS; step += 1) {
    const headers = { ...request.init.headers, accept: 'text/html' };
    if (jar.header()) headers.cookie = jar.header();
    const response = await fetchFn(request.url, { ...request.init, headers, redirect: 'manual' });
    jar.store(response);
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      if (!location) throw new Error(`${response.status} from ${request.url.pathname} without a Location`);
      const next = new URL(location, request.url);
      await response.body?.cancel();
      // Back to the client (another origin, or not the AS's own /authorize): the end.
      if (next.origin !== asOrigin || next.pathname !== '/authorize') return { redirect: next, pages };
      pages.push(`redirect ${response.status}`);
      request = { url: next, init: { method: 'GET' } };
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) {
      throw new Error(`${request.init.method} ${request.url.pathname} answered ${response.status}: ${html.slice(0, 300)}`);
    }
    const form = parseForm(html, request.url);
    const kind = pageKind(form);
    if (kind === 'login' && pages.includes('login')) {
      // A second login page in one authorization: the credentials were refused.
      const said = html.match(/role="alert"[^>]*>([^<]*)</)?.[1] ?? 'no message';
      throw new Error(`login refused: ${decodeEntities(said.trim())}`);
    }
    pages.push(kind);
    const body = new URLSearchParams(form ? [...form.fields] : []);
    if (kind === 'login') {
      body.set('username', username);
      body.set('password', password);
      body.set('action', 'login');
    } else if (kind === 'consent') {
      if (!form.buttons.get('decision').includes(decision)) {
        throw new Error(`the consent form offers decision=${form.buttons.get('decision').join('|')}, not ${decision}`);
      }
      body.set('decision', decision);
    } else {
      throw new Error(`${request.url.pathname}: a page this browser cannot fill in (${kind}): ${html.slice(0, 300)}`);
    }
    for (const required of ['request', 'csrf_token']) {
      if (!body.get(required)) throw new Error(`the ${kind} form has no hidden ${required} field`);
    }
    if (form.method !== 'post') throw new Error(`the ${kind} form uses method=${form.method}, not post`);
    request = {
      url: form.action,
      init: { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() },
    };
  }
  throw new Error(`no redirect back to the client after ${MAX_STEPS} pages (${pages.join(' → ')})`);
}
