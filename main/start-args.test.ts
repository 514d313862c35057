import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStartArgs } from './start-args.ts';

test('npm start: --port in either spelling, and an option it does not take is refused rather than left out', () => {
  assert.deepEqual(parseStartArgs([]), { web: false, exitWhenIdle: false });
  assert.deepEqual(parseStartArgs(['--web', '--port', '0', '--exit-when-idle']), { web: true, port: 0, exitWhenIdle: true });
  // `--port=8080` used to be passed over: the app came up on a port of its own choosing.
  assert.equal(parseStartArgs(['--port=8080']).port, 8080);
  assert.throws(() => parseStartArgs(['--prot', '8080']), /unknown option --prot/);
  assert.throws(() => parseStartArgs(['8080']), /unknown option 8080/);
  for (const bad of [['--port'], ['--port', '65536'], ['--port=http'], ['--port=']]) assert.throws(() => parseStartArgs(bad), /--port needs a port number 0-65535/, bad.join(' '));
});
