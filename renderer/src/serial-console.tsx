// A VM's first serial port in xterm.js: output from the guest, keystrokes back to it.
import { useEffect, useRef } from 'react';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { api } from './api-client.ts';

export function SerialConsole(props: { vmId: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const term = new Terminal({ cols: 100, rows: 32, fontSize: 13, convertEol: false, cursorBlink: true, theme: { background: '#0b0e14', foreground: '#d7dae0' }, scrollback: 5000 });
    term.open(host.current!);
    let live = true;
    // Live output that arrives before the history is held back, then trimmed where they overlap.
    let shown = -1;
    const early: { data: string; offset: number }[] = [];
    const show = (data: string, offset: number): void => {
      const skip = shown - offset;
      if (skip >= data.length) return;
      term.write(skip > 0 ? data.slice(skip) : data);
      shown = offset + data.length;
    };
    const off = api.onEvent((e) => {
      if (e.type !== 'serial' || e.id !== props.vmId) return;
      if (shown < 0) early.push(e);
      else show(e.data, e.offset);
    });
    void api.serialLog(props.vmId).then((log) => {
      if (!live) return;
      term.write(log.text);
      shown = log.end;
      for (const e of early) show(e.data, e.offset);
    });
    const input = term.onData((d) => void api.sendSerial(props.vmId, d));
    term.focus();
    return () => {
      live = false;
      off();
      input.dispose();
      term.dispose();
    };
  }, [props.vmId]);
  return <div className="terminal" ref={host} data-testid="serial-console" />;
}
