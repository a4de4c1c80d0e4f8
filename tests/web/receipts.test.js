// Read receipts: "Seen" / "Seen by A, B +N" from the chat's members, and merging fresh members.
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {mergeMembers, receipt} from '../../web/lib/receipts.js';

const mine = (seq) => ({seq, sender_id: 1});

test('receipts: one-to-one says Seen under my newest message the other has read', () => {
  const chat = {members: [{account_id: 1, last_read_seq: 9}, {account_id: 2, display_name: 'Ann', last_read_seq: 2}]};
  assert.deepEqual(receipt(chat, 1, [mine(1), mine(2), {seq: 3, sender_id: 2}, mine(4)]), {seq: 2, text: 'Seen'});
  assert.equal(receipt({members: [chat.members[0], {...chat.members[1], last_read_seq: 0}]}, 1, [mine(1)]), null);
});

test('receipts: a group names two readers and counts the rest; a non-sharing member is not one', () => {
  const names = ['Ada', 'Bea', 'Cy', 'Dee', 'Eve'];
  const chat = {members: [{account_id: 1, last_read_seq: 5},
    ...names.map((display_name, i) => ({account_id: i + 2, display_name, last_read_seq: i === 4 ? null : 5}))]};
  assert.deepEqual(receipt(chat, 1, [mine(5)]), {seq: 5, text: 'Seen by Ada, Bea +2'});
});

test('receipts: fresh members replace known ones but a position learnt live never moves back', () => {
  const known = [{account_id: 2, last_read_seq: 8}];
  assert.deepEqual(mergeMembers(known, [{account_id: 2, last_read_seq: 5}, {account_id: 3, last_read_seq: 1}]),
    [{account_id: 2, last_read_seq: 8}, {account_id: 3, last_read_seq: 1}]);
  assert.deepEqual(mergeMembers(known, [{account_id: 2, last_read_seq: null}]), [{account_id: 2, last_read_seq: null}]);
  assert.equal(mergeMembers(known, undefined), known);
});
