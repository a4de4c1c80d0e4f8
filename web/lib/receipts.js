// Read receipts: how far the other members of a chat have read, and which of my messages that
// makes "Seen" ("Seen" in a one-to-one chat, "Seen by A, B +3" in a group).

const NAMED = 2; // names shown before "+N"

/** Members from the server replace what is known, but a position learnt live is never moved back
 * (a chat list fetched before a `read` event can answer after it). */
export function mergeMembers(known, fresh) {
  if (!fresh) return known;
  if (!known) return fresh;
  const before = new Map(known.map((m) => [m.account_id, m]));
  return fresh.map((m) => {
    const old = before.get(m.account_id);
    if (!old) return m;
    const merged = {...m};
    if (m.last_read_seq != null && old.last_read_seq != null) merged.last_read_seq = Math.max(m.last_read_seq, old.last_read_seq);
    return merged;
  });
}

/** A `read` event: returns false when the reader is not a known member (the list is stale). */
export function applyRead(chat, accountId, seq) {
  const member = chat?.members?.find((m) => m.account_id === accountId);
  if (!member) return false;
  member.last_read_seq = Math.max(member.last_read_seq || 0, seq);
  return true;
}

/** The receipt under my newest message that someone else has read: {seq, text}, or null. */
export function receipt(chat, meId, messages) {
  const others = (chat?.members || []).filter((m) => m.account_id !== meId && m.last_read_seq != null);
  if (!others.length) return null;
  const furthest = Math.max(...others.map((m) => m.last_read_seq));
  let mine = null;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.sender_id === meId && m.seq && !m.deleted && m.seq <= furthest) { mine = m; break; }
  }
  if (!mine) return null;
  if (chat.members.length <= 2) return {seq: mine.seq, text: 'Seen'};
  const names = others.filter((m) => m.last_read_seq >= mine.seq).map((m) => m.display_name);
  const more = names.length - NAMED;
  return {seq: mine.seq, text: `Seen by ${names.slice(0, NAMED).join(', ')}${more > 0 ? ` +${more}` : ''}`};
}
