// Unread counts, the "New messages" divider and others' read positions.
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {ChatList} from '../../web/lib/chat-list.js';
import {ChatMessages} from '../../web/lib/messages.js';
import {Unread} from '../../web/lib/unread.js';

function setup(open = null) {
  const chats = new ChatList(() => {});
  const messages = new ChatMessages(() => {});
  const sent = [];
  let refreshed = 0;
  const unread = new Unread(() => {}, chats, messages, async (chat, seq) => { sent.push([chat, seq]); },
    () => { refreshed += 1; });
  unread.me = {id: 1};
  chats.upsert({id: 5, last_seq: 3, last_read_seq: 3, unread_count: 0, updated_at: ''});
  chats.openChatId = open;
  return {chats, messages, unread, sent, refreshed: () => refreshed};
}

test('unread: a message in a chat not open counts', () => {
  const {chats, unread, sent} = setup();
  unread.incoming({chat_id: 5, seq: 4, sender_id: 2});
  assert.equal(unread.count(5), 1);
  assert.equal(chats.get(5).unread_count, 1);
  assert.deepEqual(sent, []);
});

test('unread: the open chat, looked at, is read at once and the server told', () => {
  const {chats, unread, sent} = setup(5);
  chats.get(5).last_seq = 4;
  unread.incoming({chat_id: 5, seq: 4, sender_id: 2});
  assert.equal(unread.count(5), 0);
  assert.deepEqual(sent, [[5, 4]]);
});

test('unread: while inactive the open chat counts and the divider starts at the first unseen', () => {
  const {unread, sent} = setup(5);
  unread.setActive(false);
  unread.incoming({chat_id: 5, seq: 4, sender_id: 2});
  assert.equal(unread.count(5), 1);
  assert.equal(unread.dividerAfter.get(5), 3);
  assert.deepEqual(sent, []);
});

test("unread: others' read events move their position (never back), ours recount", () => {
  const {chats, messages, unread, refreshed} = setup();
  chats.get(5).members = [{account_id: 1, last_read_seq: 3}, {account_id: 2, last_read_seq: 0}];
  unread.readEvent({chat_id: 5, account_id: 2, seq: 7});
  unread.readEvent({chat_id: 5, account_id: 2, seq: 6});
  assert.equal(chats.get(5).members[1].last_read_seq, 7);
  // a reader the chat does not list yet (just joined): the chat list is fetched again
  unread.readEvent({chat_id: 5, account_id: 9, seq: 7});
  assert.equal(refreshed(), 1);
  messages.page(5, [{chat_id: 5, seq: 4, sender_id: 2}, {chat_id: 5, seq: 5, sender_id: 2}], false);
  chats.get(5).unread_count = 2;
  unread.readEvent({chat_id: 5, account_id: 1, seq: 4});
  assert.equal(unread.count(5), 1);
});

test('unread: ours read past what is known here asks the server', () => {
  const {chats, unread, refreshed} = setup();
  chats.get(5).unread_count = 3;
  chats.get(5).last_message = {seq: 9};
  unread.readEvent({chat_id: 5, account_id: 1, seq: 5});
  assert.equal(refreshed(), 1);
  assert.equal(unread.count(5), 3);
});
