// A reaction toggled in the widget before the server answers: the guess must look like the server's.
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {quoteOf, withReaction} from '../../web/lib/client.js';

const me = {id: 7, display_name: 'Ada Lovelace'};
const message = (reactions) => ({id: 1, chat_id: 1, seq: 1, change_seq: 1, text: 'hi', reactions});

test('reactions: mine added to a new emoji, then to an existing one', () => {
  const one = withReaction(message([]), '👍', me, true);
  assert.deepEqual(one.reactions, [{emoji: '👍', count: 1, mine: true, by: ['Ada'], account_ids: [7]}]);
  const bot = {emoji: '🎉', count: 1, mine: false, by: ['Bot'], account_ids: [3]};
  const two = withReaction(message([bot]), '🎉', me, true);
  assert.deepEqual(two.reactions, [{emoji: '🎉', count: 2, mine: true, by: ['Bot', 'Ada'], account_ids: [3, 7]}]);
});

test('reactions: mine taken back, and an emoji left with nobody goes', () => {
  const both = {emoji: '🎉', count: 2, mine: true, by: ['Bot', 'Ada'], account_ids: [3, 7]};
  const alone = {emoji: '👍', count: 1, mine: true, by: ['Ada'], account_ids: [7]};
  const after = withReaction(message([both, alone]), '🎉', me, false);
  assert.deepEqual(after.reactions, [{emoji: '🎉', count: 1, mine: false, by: ['Bot'], account_ids: [3]}, alone]);
  assert.deepEqual(withReaction(after, '👍', me, false).reactions.map((r) => r.emoji), ['🎉']);
  // a new object: the message element re-renders on identity change
  assert.notEqual(after, message([both, alone]));
});

test('reactions: a quote of a message not sent yet is what the server will store', () => {
  const long = 'x'.repeat(200);
  assert.deepEqual(quoteOf({id: 4, sender_name: 'Bot', text: long, media_type: null}),
    {id: 4, sender_name: 'Bot', text: long.slice(0, 140), deleted: false, media_type: null});
  assert.deepEqual(quoteOf({id: 4, sender_name: 'Bot', text: 'gone', deleted: true, media_type: 'image'}),
    {id: 4, sender_name: 'Bot', text: '', deleted: true, media_type: null});
});
