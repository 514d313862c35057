// `npm start`'s options: --web (web mode even where Electron is installed), --port N or --port=N (web
// mode's port; 0 takes a free one), --exit-when-idle (the app the command line starts in the
// background, see idle-exit.ts).

export interface StartOptions {
  web: boolean;
  port?: number;
  exitWhenIdle: boolean;
}

/** Reads the options; throws an Error naming the first one that is wrong, rather than start with it left out. */
export function parseStartArgs(argv: readonly string[]): StartOptions {
  const out: StartOptions = { web: false, exitWhenIdle: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--web') out.web = true;
    else if (a === '--exit-when-idle') out.exitWhenIdle = true;
    else if (a === '--port' || a.startsWith('--port=')) {
      const v = a === '--port' ? argv[++i] : a.slice('--port='.length);
      if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`--port needs a port number 0-65535, not "${v ?? ''}"`);
      out.port = Number(v);
    } else throw new Error(`unknown option ${a} (npm start takes --web, --port N and --exit-when-idle)`);
  }
  return out;
}
