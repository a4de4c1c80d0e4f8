// Live events: WebSocket first, long-poll fallback, resume by cursor so nothing is missed.
//
// status: 'connecting' | 'live' | 'reconnecting' | 'polling' | 'offline'
// Emits 'event' (detail: server event) and 'status' (detail: status).
//
// The cursor never goes into a URL (it grows with the number of chats: ~20 characters each):
// a socket is opened with ?resume=1 and sends {type: 'resume', cursor} as its first frame, and a
// long-poll is a POST with {cursor, timeout} in its body.

import {CLOSE_CLIENT_RECONNECT, CLOSE_PONG_TIMEOUT, CLOSE_RESYNC, RESUME_PARAM} from './protocol.js';
import {notificationPermission} from './notify.js';

const PING_EVERY_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;
const UPGRADE_EVERY_MS = 30_000;
const WS_FAILURES_BEFORE_POLLING = 2;
// a socket that has not said `connection` by then is given up (a proxy that holds the upgrade)
const CONNECT_TIMEOUT_MS = 15_000;
// a hidden tab long-polls only for notifications, and waits this long between polls
const HIDDEN_POLL_GAP_MS = 5_000;

/** Exponential backoff with full jitter: a random wait in [0, min(cap, base * 2^attempt)]. */
export function backoff(attempt, base = 500, cap = 15_000) {
  return Math.random() * Math.min(cap, base * 2 ** attempt);
}

/** The resume position: the last full cursor plus the newest per-chat token seen since. */
export class CursorKeeper {
  constructor() { this.base = null; this.tokens = new Map(); }
  see(ev) {
    if (ev.type === 'connection') { this.base = ev.cursor; this.tokens.clear(); }
    else if (ev.cursor && ev.chat_id != null) this.tokens.set(ev.chat_id, ev.cursor);
  }
  reset(cursor = null) { this.base = cursor; this.tokens.clear(); }
  get value() {
    if (this.base === null) return null;
    return [this.base, ...this.tokens.values()].join(',');
  }
}

export class Transport extends EventTarget {
  constructor(api, {wsUrl} = {}) {
    super();
    this.api = api;
    this.wsUrl = wsUrl || new URL((api.base || '') + '/ws/webchat/', location.href).href.replace(/^http/, 'ws');
    this.cursor = new CursorKeeper();
    this.status = 'connecting';
    this.mode = 'ws';
    this.ws = null;
    this.attempt = 0;
    this.wsFailures = 0;
    this.timers = new Set();
    this.pollAbort = null;
    this.stopped = false;
    this._onOnline = () => this.reconnectNow();
    this._onOffline = () => this._setStatus('offline');
    this._onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      if (this.mode === 'poll') this._pollLoop();
      else if (this.status !== 'live') this.reconnectNow();
    };
  }

  start() {
    this.stopped = false;
    this._listen('addEventListener');
    this._connectWs();
  }

  stop() {
    this.stopped = true;
    this._listen('removeEventListener');
    this._clearTimers();
    if (this.pollAbort) this.pollAbort.abort();
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
  }

  _listen(method) {
    window[method]('online', this._onOnline);
    window[method]('offline', this._onOffline);
    document[method]('visibilitychange', this._onVisible);
  }

  /** Forget the cursor: the next connection starts at "now" (after a resync). */
  resetCursor() { this.cursor.reset(); }

  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    this._clearTimers();
    if (this.mode === 'poll') { this._tryUpgrade(); this._pollLoop(); return; }
    if (this.ws) { this.ws.onclose = null; this.ws.close(CLOSE_CLIENT_RECONNECT); this.ws = null; }
    this._connectWs();
  }

  /** The page's own policy (CSP) forbids the socket: long-poll from now on, without trying it again. */
  socketBlocked() {
    if (this.wsBlocked || this.stopped) return;
    this.wsBlocked = true;
    this._clearTimers();
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    if (this.mode !== 'poll') this._startPolling();
  }

  /** Send a frame over the socket if it is live; returns false otherwise. */
  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.status === 'live') {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  _url(cursor) {
    return cursor === null ? this.wsUrl : `${this.wsUrl}?${RESUME_PARAM}=1`;
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', {detail: status}));
  }

  _emit(ev) {
    this.cursor.see(ev);
    this.dispatchEvent(new CustomEvent('event', {detail: ev}));
  }

  _later(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  _clearTimers() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  _openSocket(onLive, onFail) {
    let ws;
    const cursor = this.cursor.value;
    try {
      ws = new WebSocket(this._url(cursor));
    } catch {
      onFail(false);
      return null;
    }
    if (cursor !== null) ws.onopen = () => ws.send(JSON.stringify({type: 'resume', cursor}));
    let live = false;
    const fresh = cursor === null;
    let pingTimer = null;
    let pongTimer = null;
    const giveUp = setTimeout(() => ws.onclose && (ws.close(), ws.onclose({code: 0})), CONNECT_TIMEOUT_MS);
    const clearPing = () => { clearInterval(pingTimer); clearTimeout(pongTimer); clearTimeout(giveUp); };
    ws.onmessage = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch { return; }
      if (ev.type === 'pong') { clearTimeout(pongTimer); return; }
      if (ev.type === 'connection' && !live) {
        live = true;
        clearTimeout(giveUp);
        ev.fresh = fresh;
        onLive(ws);
        // keepalive: a proxy that silently drops idle sockets is noticed within a ping period
        pingTimer = setInterval(() => {
          if (ws.readyState !== WebSocket.OPEN) return;
          ws.send(JSON.stringify({type: 'ping', timestamp: Date.now()}));
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => ws.close(CLOSE_PONG_TIMEOUT, 'pong timeout'), PONG_TIMEOUT_MS);
        }, PING_EVERY_MS);
      }
      if (this.ws === ws || ev.type === 'connection') this._emit(ev);
    };
    ws.onclose = (e) => { ws.onclose = null; clearPing(); onFail(live, e.code); };
    return ws;
  }

  _connectWs() {
    if (this.stopped) return;
    this.mode = 'ws';
    if (!navigator.onLine) { this._setStatus('offline'); return; }
    if (this.status !== 'connecting') this._setStatus('reconnecting');
    this.ws = this._openSocket(
      (ws) => {
        this.ws = ws;
        this.attempt = 0;
        this.wsFailures = 0;
        this.httpButNoSocket = 0;
        this._setStatus('live');
      },
      (wasLive, code) => {
        this.ws = null;
        if (this.stopped) return;
        if (code === CLOSE_RESYNC) this.dispatchEvent(new CustomEvent('event', {detail: {type: 'resync'}}));
        if (!wasLive) this.wsFailures += 1;
        this._setStatus(navigator.onLine ? 'reconnecting' : 'offline');
        const retry = (ms) => this._later(() => this._connectWs(), ms);
        if (this.wsFailures < WS_FAILURES_BEFORE_POLLING) {
          retry(wasLive ? backoff(0, 250) : backoff(this.attempt++));
          return;
        }
        // the socket keeps failing: poll only if plain HTTP gets through while the socket fails
        // twice in a row (a proxy blocks WebSockets); a server coming back from a restart answers
        // HTTP and the socket alike, so it gets the socket again
        this._httpReachable().then((ok) => {
          if (this.stopped || this.mode !== 'ws' || this.ws) return;
          this.httpButNoSocket = ok ? (this.httpButNoSocket || 0) + 1 : 0;
          if (this.httpButNoSocket >= 2) { this.httpButNoSocket = 0; this._startPolling(); }
          else retry(ok ? 100 : backoff(this.attempt++));
        });
      });
  }

  async _httpReachable() {
    try {
      await fetch(new URL((this.api.base || '') + '/healthz', location.href), {cache: 'no-store'});
      return true;
    } catch {
      return false;
    }
  }

  // -- long-poll fallback ----------------------------------------------------------------------
  _startPolling() {
    this.mode = 'poll';
    this.attempt = 0;
    this._setStatus('polling');
    this._pollLoop();
    this._scheduleUpgrade();
  }

  _scheduleUpgrade() {
    this._later(() => { this._tryUpgrade(); this._scheduleUpgrade(); }, UPGRADE_EVERY_MS);
  }

  _tryUpgrade() {
    if (this.mode !== 'poll' || this.upgrading || this.wsBlocked) return;
    this.upgrading = true;
    const ws = this._openSocket(
      (live) => {
        // the socket works again: stop polling and switch over (duplicates are dropped by seq)
        this.upgrading = false;
        this.mode = 'ws';
        this.ws = live;
        this.wsFailures = 0;
        this.attempt = 0;
        this._clearTimers();
        if (this.pollAbort) this.pollAbort.abort();
        this._setStatus('live');
      },
      (wasLive) => {
        this.upgrading = false;
        if (this.ws === ws) { this.ws = null; }
        if (wasLive && !this.stopped) { this.wsFailures = 0; this._connectWs(); }
      });
  }

  async _pollLoop() {
    if (this.polling || this.mode !== 'poll' || this.stopped) return;
    this.polling = true;
    try {
      // poll while the page is visible; a hidden tab polls (slowly) only when it may show notifications,
      // else it resumes from its cursor when visible again
      const wanted = () => document.visibilityState === 'visible' || notificationPermission() === 'granted';
      while (this.mode === 'poll' && !this.stopped && wanted()) {
        this.pollAbort = new AbortController();
        try {
          const cursor = this.cursor.value;
          const data = await this.api.request('POST', '/webchat/poll/',
                                              {json: {cursor, timeout: cursor === null ? 0 : 25},
                                               signal: this.pollAbort.signal});
          this.attempt = 0;
          this._setStatus('polling');
          if (this.cursor.value === null) {
            this._emit({type: 'connection', cursor: data.cursor, via: 'poll', fresh: true});
          }
          for (const ev of data.events) {
            if (ev.type === 'resync') { this.cursor.reset(); this._emit(ev); break; }
            this._emit(ev);
          }
          if (data.cursor) this.cursor.reset(data.cursor);
          if (document.visibilityState !== 'visible') await new Promise((r) => setTimeout(r, HIDDEN_POLL_GAP_MS));
        } catch (err) {
          if (err.name === 'AbortError') break;
          this._setStatus(navigator.onLine ? 'reconnecting' : 'offline');
          await new Promise((r) => setTimeout(r, backoff(this.attempt++)));
        }
      }
    } finally {
      this.polling = false;
    }
  }
}
