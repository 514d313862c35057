import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatchIpc } from './ipc-dispatch.ts';
import type { HostApi } from './api-types.ts';

test('IPC calls run only from the app window, its top frame, on the app page, with allow-listed methods and checked arguments', async () => {
  const calls: unknown[][] = [];
  const api = {
    async powerOn(id: string) {
      calls.push(['powerOn', id]);
      return { id };
    },
  } as unknown as HostApi;
  const win = {};
  const top = { url: 'file:///opt/hostbox/dist/renderer/index.html', parent: null };
  const trust = { webContents: win, pageUrl: top.url };
  const allowed = new Set(['powerOn']);
  const call = (e: { sender: unknown; senderFrame?: { url: string; parent: unknown } | null }, method: unknown, params: unknown) => dispatchIpc(api, allowed, e, trust, method, params);

  assert.deepEqual(await call({ sender: win, senderFrame: top }, 'powerOn', ['vm1']), { id: 'vm1' });
  assert.deepEqual(await call({ sender: win, senderFrame: { ...top, url: `${top.url}#/vm/1` } }, 'powerOn', ['vm1']), { id: 'vm1' });
  await assert.rejects(call({ sender: {}, senderFrame: top }, 'powerOn', ['vm1']), /refused: not the Hostbox window/);
  await assert.rejects(call({ sender: win, senderFrame: { url: top.url, parent: top } }, 'powerOn', ['vm1']), /refused: not the top frame/);
  await assert.rejects(call({ sender: win, senderFrame: null }, 'powerOn', ['vm1']), /refused: not the top frame/);
  await assert.rejects(call({ sender: win, senderFrame: { url: 'https://evil.example/', parent: null } }, 'powerOn', ['vm1']), /refused: not the Hostbox page/);
  await assert.rejects(call({ sender: win, senderFrame: top }, 'deleteEverything', []), /unknown method deleteEverything/);
  await assert.rejects(call({ sender: win, senderFrame: top }, '__proto__', []), /unknown method/);
  await assert.rejects(call({ sender: win, senderFrame: top }, 'powerOn', [42]), /powerOn: argument 1 must be a VM id/);
  await assert.rejects(call({ sender: win, senderFrame: top }, 'powerOn', 'vm1'), /params must be an array/);
  await assert.rejects(call({ sender: win, senderFrame: top }, 'powerOn', []), /powerOn takes 1 argument, not 0/);
  assert.equal(calls.length, 2);
});
