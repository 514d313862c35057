// A client for the --monitor socket in tests: sends JSON commands one a line, returns the answers.
import { createConnection } from 'node:net';

export function monitor(path: string, cmds: string[]): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    const answers: Record<string, unknown>[] = [];
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(cmds[0] + '\n'));
    s.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        answers.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
        if (answers.length < cmds.length) s.write(cmds[answers.length] + '\n');
        else {
          s.end();
          resolve(answers);
        }
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      if (answers.length < cmds.length) reject(new Error(`the monitor closed after ${answers.length} of ${cmds.length} answers`));
    });
  });
}
