// The message window of each chat: merged by (chat, seq), newest change wins, kept in order.
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {ChatMessages} from '../../web/lib/messages.js';

const msg = (seq, extra = {}) => ({chat_id: 1, id: seq, seq, change_seq: seq, text: `m${seq}`, ...extra});

test('messages: live ones append, late ones land in order', () => {
  let changes = 0;
  const store = new ChatMessages(() => { changes += 1; });
  for (const s of [1, 2, 4]) assert.equal(store.upsert(msg(s)), true);
  assert.deepEqual(store.list(1).map((m) => m.seq), [1, 2, 4]);
  store.upsert(msg(3));
  assert.deepEqual(store.list(1).map((m) => m.seq), [1, 2, 3, 4]);
  assert.equal(store.oldestSeq(1), 1);
  assert.equal(changes, 4);
});

test('messages: a newer change replaces, an older one is stale', () => {
  const store = new ChatMessages(() => {});
  store.upsert(msg(1));
  store.list(1);
  assert.equal(store.upsert(msg(1, {change_seq: 5, text: 'edited'})), false);
  assert.equal(store.list(1)[0].text, 'edited');
  assert.equal(store.upsert(msg(1, {change_seq: 3, text: 'older'})), null);
  assert.equal(store.list(1)[0].text, 'edited');
});

test("messages: media URLs are the chat server's", () => {
  const store = new ChatMessages(() => {}, 'https://chat.example');
  store.upsert(msg(1, {media_url: '/webchat/media/2'}));
  store.upsert(msg(2, {media_url: '//cdn.example/x'}));
  assert.deepEqual(store.list(1).map((m) => m.media_url), ['https://chat.example/webchat/media/2', '//cdn.example/x']);
});

test('messages: a page marks the chat loaded; drop and clear forget', () => {
  const store = new ChatMessages(() => {});
  store.page(1, [msg(3), msg(2)], true);
  assert.ok(store.loaded.has(1));
  assert.equal(store.hasOlder.get(1), true);
  assert.deepEqual(store.list(1).map((m) => m.seq), [2, 3]);
  store.drop(1);
  assert.deepEqual(store.list(1), []);
  assert.ok(!store.loaded.has(1));
  store.page(2, [msg(1, {chat_id: 2})], false);
  store.clear();
  assert.deepEqual([...store.all(2)], []);
});
