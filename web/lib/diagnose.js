// What a site owner must change when the widget cannot work on their page: one sentence for the
// browser console (the README's embedding section has the same cases in a table). Loaded only
// when starting failed, so the words cost a visitor nothing when the embedding is right.

/**
 * Why the chat cannot work on this page, or '' when the failure may pass (the server is down).
 * @param {import('./api.js').Api} api
 * @param {Error & {status?: number, code?: string}} err what starting failed with
 */
export async function misconfigured(api, err) {
  const here = location.origin;
  const server = api.origin;
  if (err.status === 401 && api.crossOrigin) {
    return `the chat server ${server} does not get its session cookie back from this page (${here}). `
      + 'Browsers send its SameSite=Lax cookie only when the page is on the same site as the chat server, '
      + 'and block third-party cookies. Serve the chat server from a subdomain of this site and list '
      + `${here} in its WEBCHAT_ALLOWED_ORIGINS, or proxy /webchat/, /ws/ and /web/ from this site to it.`;
  }
  if (err.status === 404 && err.code === 'http_404') {
    return `${api.base}/webchat/me is not found: api-base must be the chat server's root URL (e.g. https://chat.example.com).`;
  }
  if (err.status) return '';
  if (location.protocol === 'https:' && server.startsWith('http:')) {
    return `this page is HTTPS but the chat server ${server} is plain HTTP, which browsers block: serve it over HTTPS.`;
  }
  if (!api.crossOrigin) return '';
  try {
    // an opaque answer needs no CORS: if it arrives, the server is up and refuses this origin
    await fetch(`${api.base}/livez`, {mode: 'no-cors', cache: 'no-store', credentials: 'omit'});
  } catch {
    return ''; // really unreachable (or the page's policy blocks it: see cspFix)
  }
  return `the chat server ${server} does not allow pages from ${here}: set WEBCHAT_ALLOWED_ORIGINS=${here} `
    + '(comma-separated, with the origins it lists already) on the chat server and restart it. The page must '
    + 'also be on the same site as the chat server (e.g. www.shop.example and chat.shop.example), or its '
    + 'session cookie is not sent.';
}

/** The page's Content-Security-Policy blocked a request to the chat server. */
export function cspFix(api, directive, url) {
  const ws = api.origin.replace(/^http/, 'ws');
  return `this page's Content-Security-Policy (${directive}) blocks ${url}: add ${api.origin} ${ws} `
    + `to its connect-src, and ${api.origin} to script-src and img-src.`;
}
