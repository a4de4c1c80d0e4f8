// A voice note's waveform (what the recorder sends) and its clock (what the player shows).
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {waveformOf} from '../../web/lib/recorder.js';

test('voice: the waveform is at most 128 values 0-255, the loudest at 255', () => {
  const levels = Array.from({length: 6000}, (_, i) => (i % 100 === 0 ? 0.5 : 0.05));
  const wf = waveformOf(levels);
  assert.equal(wf.length, 128);
  assert.ok(wf.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
  assert.equal(Math.max(...wf), 255);
});

test('voice: a short recording keeps one value a tick; silence stays flat; nothing is empty', () => {
  assert.deepEqual(waveformOf([0.25, 0.5, 1]), [64, 128, 255]);
  assert.deepEqual(waveformOf([0, 0, 0]), [0, 0, 0]);
  assert.deepEqual(waveformOf([]), []);
});
