// The widget's cursor keeper, held to the same cases as the Python one (tests/unit/cursor_cases.json).
import './globals.js';
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {CursorKeeper} from '../../web/lib/transport.js';

const cases = JSON.parse(readFileSync(new URL('../unit/cursor_cases.json', import.meta.url)));

for (const c of cases) {
  test(`cursor keeper: ${c.name}`, () => {
    const keeper = new CursorKeeper();
    for (const step of c.steps) {
      if ('see' in step) keeper.see(step.see);
      else keeper.reset(step.reset);
    }
    assert.equal(keeper.value, c.value);
  });
}
