// Sends not yet confirmed by the server: shown at once, retried with the same client_id (the
// server stores a client_id once, so a retry after a lost answer never duplicates).

export function newClientId() {
  return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);
}

export class PendingSends {
  constructor(changed) {
    this.changed = changed;
    this.byClientId = new Map();
  }

  forChat(chatId) { return [...this.byClientId.values()].filter((m) => m.chat_id === chatId); }
  get(clientId) { return this.byClientId.get(clientId); }
  failed() { return [...this.byClientId.values()].filter((m) => m.status === 'failed'); }

  add(message) { this.byClientId.set(message.client_id, message); this.changed(); }

  /** A new object, not a mutation: the message element re-renders on identity change. */
  mark(clientId, status, error = '') {
    const m = this.byClientId.get(clientId);
    if (m) { this.byClientId.set(clientId, {...m, status, error}); this.changed(); }
  }

  /** The stored message arrived (by answer or event): the optimistic copy goes. */
  confirm(clientId) {
    const m = this.byClientId.get(clientId);
    if (!m) return;
    if (m.media_url && m.media_url.startsWith('blob:')) URL.revokeObjectURL(m.media_url);
    this.byClientId.delete(clientId);
    this.changed();
  }

  dropChat(chatId) {
    for (const [id, m] of this.byClientId) if (m.chat_id === chatId) this.byClientId.delete(id);
  }
}
