// REST client for /webchat/*: session cookie + CSRF header, JSON errors turned into ApiError.

/** The page's title as the inbox shows it: NFC, at most PAGE_TITLE_MAX characters (whole ones). */
const PAGE_TITLE_MAX = 200;
function pageTitle() {
  const t = (globalThis.document && document.title) || '';
  return [...t.normalize('NFC').trim()].slice(0, PAGE_TITLE_MAX).join('');
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// the server this script came from (…/web/… stripped): a site that includes
// https://CHAT-HOST/web/webchat.js talks to CHAT-HOST without an api-base attribute
export const SCRIPT_BASE = import.meta.url.replace(/\/web\/.*$/, '');

export class Api {
  constructor(base = '') {
    this.base = (base || SCRIPT_BASE).replace(/\/$/, '');
    this.csrf = '';
  }

  /** The chat server's origin, and whether it differs from the page's (CORS and cookies then matter). */
  get origin() { return new URL(this.base || '/', location.href).origin; }
  get crossOrigin() { return this.origin !== location.origin; }

  async request(method, path, {json, form, params, signal} = {}) {
    const url = new URL(this.base + path, location.href);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const headers = {};
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    if (method !== 'GET') headers['X-CSRF-Token'] = this.csrf;
    const res = await fetch(url, {method, headers, body, signal, credentials: 'include'});
    let data = null;
    try {
      data = await res.json();
    } catch {
      // a proxy's HTML error page: fall through to the generic error below
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : {code: 'http_' + res.status, message: res.statusText};
      throw new ApiError(res.status, err.code, err.message);
    }
    return data;
  }

  async me() {
    const data = await this.request('GET', '/webchat/me');
    this.csrf = data.csrf_token;
    return data;
  }

  /** Sign in with a token (JWT) issued by the embedding site; the guest's chats move to that user. */
  async identify(token) {
    const data = await this.request('POST', '/webchat/identify', {json: {token}});
    this.csrf = data.csrf_token;
    return data;
  }

  chats() { return this.request('GET', '/webchat/chats/'); }
  createChat(title) { return this.request('POST', '/webchat/chats/', {json: {title}}); }
  updateChat(id, changes) { return this.request('PATCH', `/webchat/chats/${id}/`, {json: changes}); }
  deleteChat(id, hard = false) {
    return this.request('DELETE', `/webchat/chats/${id}/`, {params: hard ? {hard: 'true'} : {}});
  }
  messages(chatId, params = {}) {
    return this.request('GET', '/webchat/messages/', {params: {chat_id: chatId, ...params}});
  }
  send({chatId, text, clientId, file, replyTo}) {
    // a send that starts a conversation says which page it started on (the server knows the URL)
    const title = chatId ? '' : pageTitle();
    if (file) {
      const form = new FormData();
      if (chatId) form.append('chat_id', String(chatId));
      if (title) form.append('page_title', title);
      if (text) form.append('text', text);
      if (replyTo) form.append('reply_to', String(replyTo));
      form.append('client_id', clientId);
      form.append('media', file, file.name || 'upload');
      return this.request('POST', '/webchat/send/', {form});
    }
    return this.request('POST', '/webchat/send/', {json: {chat_id: chatId, text, client_id: clientId,
      ...(replyTo ? {reply_to: replyTo} : {}), ...(title ? {page_title: title} : {})}});
  }
  react(id, emoji) { return this.request('PUT', `/webchat/messages/${id}/reactions/${encodeURIComponent(emoji)}`); }
  unreact(id, emoji) { return this.request('DELETE', `/webchat/messages/${id}/reactions/${encodeURIComponent(emoji)}`); }
  editMessage(id, text) { return this.request('PATCH', `/webchat/messages/${id}/`, {json: {text}}); }
  deleteMessage(id) { return this.request('DELETE', `/webchat/messages/${id}/`); }
  read(chatId, seq) { return this.request('POST', '/webchat/read/', {json: {chat_id: chatId, seq}}); }
  typing(chatId, isTyping) {
    return this.request('POST', '/webchat/typing/', {json: {chat_id: chatId, is_typing: isTyping}});
  }
  poll(cursor, timeout, signal) {
    return this.request('GET', '/webchat/poll/', {params: {cursor, timeout}, signal});
  }
}
