// The --monitor socket: a Unix socket (mode 0600, only this user) for scripts and tests, used the
// way QEMU's QMP socket is. One JSON object a line in, one a line out:
//   {"cmd":"status"}                 -> {"ok":true,"state":"running"}
//   {"cmd":"suspend","file":PATH}    -> {"ok":true,"file":PATH} once the file is complete; then the
//                                       command exits 0
//   {"cmd":"sync"}                   -> {"ok":true,"lines":[...]}: host folders synced now (what each
//                                       did, one line each); {"ok":false,"error":...,"lines":[...]}
//                                       when one was refused (still mounted in the guest, damaged)
//                                       and left unchanged. "force":true syncs a mounted one as is.
//   {"cmd":"power-button"}           -> {"ok":true}: the ACPI power button is pressed (QMP's
//                                       system_powerdown); the guest decides what it means
//   {"cmd":"snapshot","name":NAME}   -> {"ok":true,"name":NAME,"file":STATE,"disk":OVERLAY,...} once the
//                                       snapshot is complete (the machine's state in STATE, the hard
//                                       disk frozen under OVERLAY, which the VM now writes to); the VM
//                                       runs on. `hostbox resume STATE` goes back to it (cli-snapshots.ts).
//   {"cmd":"snapshots"}              -> {"ok":true,"folder":DIR,"snapshots":[{"name","parent","created","file","bytes"}]}
//   {"cmd":"quit"}                   -> {"ok":true}; then the command exits 0
//   anything else                    -> {"ok":false,"error":"..."}

import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, lstatSync } from 'node:fs';

export interface MonitorActions {
  status(): string;
  /** Resolves with the file written; rejects with a message for the client. */
  suspend(file: string | undefined): Promise<string>;
  /** Called once a suspend's answer has been sent. */
  afterSuspend(): void;
  /** "Sync to host now": one line per folder (then conflicts); `error` when one was not synced. */
  sync(force: boolean): Promise<{ lines: string[]; error?: string }>;
  /** Presses the ACPI power button; throws with a message for the client when there is no VM yet. */
  powerButton(): void;
  /** Resolves with the answer's fields once the snapshot is complete; rejects with a message for the client. */
  snapshot(name: string): Promise<object>;
  snapshots(): Promise<object>;
  quit(): void;
}

export interface Monitor {
  close(): Promise<void>;
}

/** Longest command line accepted; a client sending more without a newline is cut off. */
const MAX_LINE = 64 * 1024;

export async function openMonitor(path: string, act: MonitorActions): Promise<Monitor> {
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) throw new Error(`--monitor ${path} exists and is not a socket`);
    throw new Error(`--monitor ${path} exists (another hostbox, or a stale socket: remove it)`);
  }
  const clients = new Set<Socket>();
  const server: Server = createServer((sock) => {
    clients.add(sock);
    sock.on('close', () => clients.delete(sock));
    sock.on('error', () => clients.delete(sock));
    let buf = '';
    // A client that sends commands and never reads the answers would have this process hold every
    // answer: its commands are not read while answers wait to go out.
    const reply = (o: object): void => {
      if (!sock.destroyed && !sock.write(JSON.stringify(o) + '\n')) sock.pause();
    };
    sock.on('drain', () => sock.resume());
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) handle(line, reply);
      }
      if (buf.length > MAX_LINE) {
        reply({ ok: false, error: `a command line is longer than ${MAX_LINE} bytes` });
        sock.destroy();
      }
    });
  });
  const handle = (line: string, reply: (o: object) => void): void => {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return reply({ ok: false, error: 'not JSON: send one JSON object a line' });
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return reply({ ok: false, error: 'send a JSON object such as {"cmd":"status"}' });
    const m = msg as Record<string, unknown>;
    switch (m.cmd) {
      case 'status':
        return reply({ ok: true, state: act.status() });
      case 'suspend': {
        if (m.file !== undefined && (typeof m.file !== 'string' || m.file === '')) return reply({ ok: false, error: '"file" must be a path' });
        act.suspend(m.file as string | undefined).then(
          (file) => {
            reply({ ok: true, file });
            act.afterSuspend();
          },
          (e: unknown) => reply({ ok: false, error: (e as Error).message }),
        );
        return;
      }
      case 'sync': {
        if (m.force !== undefined && typeof m.force !== 'boolean') return reply({ ok: false, error: '"force" must be true or false' });
        act.sync(m.force === true).then(
          (r) => reply(r.error ? { ok: false, error: r.error, lines: r.lines } : { ok: true, lines: r.lines }),
          (e: unknown) => reply({ ok: false, error: (e as Error).message }),
        );
        return;
      }
      case 'power-button':
        try {
          act.powerButton();
        } catch (e) {
          return reply({ ok: false, error: (e as Error).message });
        }
        return reply({ ok: true });
      case 'snapshot': {
        if (typeof m.name !== 'string' || m.name === '') return reply({ ok: false, error: 'give the snapshot a name: {"cmd":"snapshot","name":NAME}' });
        act.snapshot(m.name).then(
          (r) => reply({ ok: true, ...r }),
          (e: unknown) => reply({ ok: false, error: (e as Error).message }),
        );
        return;
      }
      case 'snapshots':
        act.snapshots().then(
          (r) => reply({ ok: true, ...r }),
          (e: unknown) => reply({ ok: false, error: (e as Error).message }),
        );
        return;
      case 'quit':
        reply({ ok: true });
        return act.quit();
      default:
        return reply({ ok: false, error: `unknown command ${JSON.stringify(m.cmd ?? null)}: use status, suspend, snapshot, snapshots, sync, power-button or quit` });
    }
  };
  // The socket is made with mode 0600: nobody else on the host may drive this VM.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`--monitor ${path}: ${e.message}`)));
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  return {
    // Ends every connection after its last answer is written; a client that keeps its end open is
    // cut off after a second, so the command can exit.
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        const cut = setTimeout(() => {
          for (const c of clients) c.destroy();
        }, 1000);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
      }),
  };
}
