// What the widget's pure units (web/lib) touch of a browser: storage and page visibility (node --test).

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
  removeItem(k) { this.items.delete(k); }
  clear() { this.items.clear(); }
}

globalThis.localStorage = new MemoryStorage();
globalThis.document = {
  visibilityState: 'visible',
  listeners: new Set(),
  addEventListener(_type, fn) { this.listeners.add(fn); },
  removeEventListener(_type, fn) { this.listeners.delete(fn); },
};
