// Presence in words, the other side of a one-to-one chat, and presence events applied to members.
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {applyPresence, otherSide, presenceText} from '../../web/lib/presence.js';

test('presence: words for each status and age', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  const ago = (s) => ({status: 'offline', last_seen_at: new Date(now - s * 1000).toISOString()});
  assert.equal(presenceText({status: 'online'}, now), 'online');
  assert.equal(presenceText({status: 'away'}, now), 'away');
  assert.equal(presenceText(ago(20), now), 'last seen just now');
  assert.equal(presenceText(ago(5 * 60 + 10), now), 'last seen 5 min ago');
  assert.equal(presenceText(ago(3 * 3600), now), 'last seen 3 h ago');
  assert.equal(presenceText(ago(30 * 3600), now), 'last seen yesterday');
  assert.equal(presenceText(ago(3 * 86400), now), 'last seen 3 days ago');
  assert.equal(presenceText({status: 'offline', last_seen_at: null}, now), '');
});

test('presence: only a one-to-one chat has an other side; events update every chat listing them', () => {
  const one = {members: [{account_id: 1}, {account_id: 2, presence: {status: 'offline', last_seen_at: 'x'}}]};
  const group = {members: [{account_id: 1}, {account_id: 2}, {account_id: 3}]};
  assert.equal(otherSide(one, 1).account_id, 2);
  assert.equal(otherSide(group, 1), null);
  assert.equal(applyPresence([one, group], {account_id: 2, status: 'online', last_seen_at: null}), true);
  assert.deepEqual(one.members[1].presence, {status: 'online', last_seen_at: 'x'});
  assert.equal(group.members[1].presence.status, 'online');
  assert.equal(applyPresence([one], {account_id: 9, status: 'online'}), false);
});
