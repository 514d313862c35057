// A VM's first serial port in xterm.js: output from the guest, keystrokes back to it. The pane can
// be resized by its corner (the terminal takes as many columns and rows as fit) and zoomed; Copy
// and Paste (also Ctrl+Shift+C and Ctrl+Shift+V) carry text between the guest and the host.
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { api } from './api-client.ts';
import { SerialFeed } from './serial-feed.ts';

const FONT_SIZES = [9, 10, 11, 12, 13, 14, 16, 18, 20, 24];
const DEFAULT_FONT = 13;

export function SerialConsole(props: { vmId: string }) {
  const host = useRef<HTMLDivElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const termRef = useRef<Terminal | null>(null);
  const [fontSize, setFontSize] = useState(DEFAULT_FONT);
  const [size, setSize] = useState('100×32');
  const [copied, setCopied] = useState<string | null>(null);
  /** Fits the terminal to its box: as many whole cells as the box holds. */
  const fit = useRef<() => void>(() => {});
  const paste = (): void => {
    void navigator.clipboard.readText().then(
      (text) => text && termRef.current?.paste(text),
      () => setCopied('The browser did not allow reading the clipboard: use Ctrl+Shift+V.'),
    );
  };
  const copy = (): void => {
    const text = termRef.current?.getSelection() ?? '';
    if (!text) return setCopied('Select text in the console first.');
    void navigator.clipboard.writeText(text).then(
      () => setCopied(`Copied ${text.length} characters.`),
      () => setCopied('The browser did not allow writing to the clipboard.'),
    );
  };
  const copyRef = useRef(copy);
  copyRef.current = copy;
  useEffect(() => {
    const term = new Terminal({ cols: 100, rows: 32, fontSize: DEFAULT_FONT, convertEol: false, cursorBlink: true, theme: { background: '#0b0e14', foreground: '#d7dae0', selectionBackground: '#2f4f9a', selectionForeground: '#ffffff' }, scrollback: 5000 });
    termRef.current = term;
    term.open(host.current!);
    // Ctrl+Shift+C copies (the browser would open its developer tools); Ctrl+Shift+V reaches
    // xterm's own paste handling as a paste event.
    term.attachCustomKeyEventHandler((e) => {
      if (e.type === 'keydown' && e.ctrlKey && e.shiftKey && e.code === 'KeyC') {
        e.preventDefault();
        copyRef.current();
        return false;
      }
      return true;
    });
    fit.current = () => {
      const screen = host.current?.querySelector('.xterm-screen');
      const outer = box.current;
      if (!screen || !outer) return;
      const r = screen.getBoundingClientRect();
      if (!r.width || !r.height) return;
      const cellW = r.width / term.cols;
      const cellH = r.height / term.rows;
      const cols = Math.max(20, Math.floor(outer.clientWidth / cellW));
      const rows = Math.max(5, Math.floor(outer.clientHeight / cellH));
      if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
      setSize(`${cols}×${rows}`);
    };
    const observer = new ResizeObserver(() => fit.current());
    observer.observe(box.current!);
    let live = true;
    const feed = new SerialFeed(term);
    const off = api.onEvent((e) => {
      if (e.type !== 'serial' || e.id !== props.vmId) return;
      feed.live(e.data, e.offset);
    });
    void api.serialLog(props.vmId).then(
      (log) => live && feed.history(log),
      (e: Error) => live && feed.historyFailed(e.message),
    );
    const input = term.onData((d) => void api.sendSerial(props.vmId, d));
    term.focus();
    return () => {
      live = false;
      observer.disconnect();
      off();
      input.dispose();
      term.dispose();
      termRef.current = null;
    };
  }, [props.vmId]);
  useEffect(() => {
    const term = termRef.current;
    if (!term || term.options.fontSize === fontSize) return;
    term.options.fontSize = fontSize;
    // The cell size changes with the font: refit once xterm has measured it.
    requestAnimationFrame(() => fit.current());
  }, [fontSize]);
  const zoom = (step: number): void => {
    const i = FONT_SIZES.indexOf(fontSize);
    setFontSize(FONT_SIZES[Math.max(0, Math.min(FONT_SIZES.length - 1, (i < 0 ? FONT_SIZES.indexOf(DEFAULT_FONT) : i) + step))]!);
  };
  return (
    <div className="serial-console">
      <div className="console-toolbar" role="toolbar" aria-label="Serial console">
        <button onClick={() => zoom(-1)} title="Smaller text" disabled={fontSize === FONT_SIZES[0]}>
          Zoom out
        </button>
        <span className="zoom" aria-live="polite">
          {fontSize} px
        </span>
        <button onClick={() => zoom(1)} title="Larger text" disabled={fontSize === FONT_SIZES.at(-1)}>
          Zoom in
        </button>
        <button onClick={copy} title="Ctrl+Shift+C">
          Copy
        </button>
        <button onClick={paste} title="Ctrl+Shift+V">
          Paste
        </button>
        <span className="term-size" title="Drag the console's lower right corner to resize it">
          {size}
        </span>
        {copied ? <span className="muted">{copied}</span> : null}
      </div>
      <div className="terminal-box" ref={box}>
        <div className="terminal" ref={host} data-testid="serial-console" />
      </div>
    </div>
  );
}
