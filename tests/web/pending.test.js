// Sends not yet confirmed: kept across pages in storage, per account, until the server has them.
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {PendingSends, newClientId} from '../../web/lib/pending.js';

const KEY = 'test-pending';

test('pending: add, fail, move to the new chat, confirm', () => {
  localStorage.clear();
  const p = new PendingSends(() => {}, KEY);
  p.restore(1);
  const id = newClientId();
  p.add({client_id: id, chat_id: null, text: 'first'});
  p.mark(id, 'failed', 'offline', true);
  assert.deepEqual(p.retryable().map((m) => m.text), ['first']);
  p.move(id, 9);
  assert.deepEqual(p.forChat(9).map((m) => m.client_id), [id]);
  assert.equal(JSON.parse(localStorage.getItem(KEY))[0].chat_id, 9);
  p.confirm(id);
  assert.equal(p.get(id), undefined);
  assert.equal(localStorage.getItem(KEY), null);
});

test('pending: another page of the same account restores them as not sent', () => {
  localStorage.clear();
  const a = new PendingSends(() => {}, KEY);
  a.restore(1);
  a.add({client_id: 'c1', chat_id: 3, text: 'kept'});
  const b = new PendingSends(() => {}, KEY);
  b.restore(1);
  assert.deepEqual(b.failed().map((m) => [m.text, m.retryable]), [['kept', true]]);
  const other = new PendingSends(() => {}, KEY);
  other.restore(2);
  assert.deepEqual(other.failed(), []);
});

test('pending: a dropped chat takes its sends; attachments are not stored', () => {
  localStorage.clear();
  const p = new PendingSends(() => {}, KEY);
  p.restore(1);
  p.add({client_id: 'a', chat_id: 3, text: 'x'});
  p.add({client_id: 'b', chat_id: 4, text: 'y', file: {}});
  assert.deepEqual(JSON.parse(localStorage.getItem(KEY)).map((m) => m.client_id), ['a']);
  p.dropChat(3);
  assert.deepEqual(p.forChat(3), []);
  assert.equal(localStorage.getItem(KEY), null);
});

test('pending: without a store key nothing is kept', () => {
  localStorage.clear();
  const p = new PendingSends(() => {});
  p.restore(1);
  p.add({client_id: 'a', chat_id: 3, text: 'x'});
  assert.equal(localStorage.items.size, 0);
});
