// The VGA screen drawn on a canvas, as a monitor shows it: a text mode with 16-colour attributes,
// CP437 box drawing mapped to Unicode and the cursor; a graphics mode scaled to 4:3, the way a VGA
// monitor stretches 320x200 or 640x350 to its whole tube. The picture is pulled from the host
// (screen-feed.ts), so a page opened or reloaded at any time shows the current screen.
//
// Input: keys pressed on the focused canvas go to the guest as PC set-1 scancodes, and the page
// keeps what it can of them from the browser (every keydown is taken; the Keyboard Lock API, where
// the browser has it, also takes system keys in fullscreen). A click captures the mouse (Pointer
// Lock) and its motion, buttons and wheel go to the guest's PS/2 mouse; Ctrl+Alt (as in VMware)
// releases both (Esc also ends the pointer lock: the browser insists), and keys still held then are
// let go in the guest.
import { useEffect, useRef, useState } from 'react';
import { api } from './api-client.ts';
import { useScreenFeed, type ScreenPicture } from './screen-feed.ts';

const VGA = ['#000000', '#0000aa', '#00aa00', '#00aaaa', '#aa0000', '#aa00aa', '#aa5500', '#aaaaaa', '#555555', '#5555ff', '#55ff55', '#55ffff', '#ff5555', '#ff55ff', '#ffff55', '#ffffff'];
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ';
function glyph(c: number): string {
  if (c >= 0x80) return CP437_HIGH[c - 0x80]!;
  if (c < 0x20) return c === 0 ? ' ' : '·';
  return String.fromCharCode(c);
}

/** Browser key codes to PC/AT set-1 make codes (0xE0-prefixed where the key is extended). */
const SET1: Record<string, number[]> = {
  Escape: [0x01], Digit1: [0x02], Digit2: [0x03], Digit3: [0x04], Digit4: [0x05], Digit5: [0x06], Digit6: [0x07],
  Digit7: [0x08], Digit8: [0x09], Digit9: [0x0a], Digit0: [0x0b], Minus: [0x0c], Equal: [0x0d], Backspace: [0x0e],
  Tab: [0x0f], KeyQ: [0x10], KeyW: [0x11], KeyE: [0x12], KeyR: [0x13], KeyT: [0x14], KeyY: [0x15], KeyU: [0x16],
  KeyI: [0x17], KeyO: [0x18], KeyP: [0x19], BracketLeft: [0x1a], BracketRight: [0x1b], Enter: [0x1c],
  ControlLeft: [0x1d], KeyA: [0x1e], KeyS: [0x1f], KeyD: [0x20], KeyF: [0x21], KeyG: [0x22], KeyH: [0x23],
  KeyJ: [0x24], KeyK: [0x25], KeyL: [0x26], Semicolon: [0x27], Quote: [0x28], Backquote: [0x29], ShiftLeft: [0x2a],
  Backslash: [0x2b], KeyZ: [0x2c], KeyX: [0x2d], KeyC: [0x2e], KeyV: [0x2f], KeyB: [0x30], KeyN: [0x31],
  KeyM: [0x32], Comma: [0x33], Period: [0x34], Slash: [0x35], ShiftRight: [0x36], AltLeft: [0x38], Space: [0x39],
  CapsLock: [0x3a], F1: [0x3b], F2: [0x3c], F3: [0x3d], F4: [0x3e], F5: [0x3f], F6: [0x40], F7: [0x41], F8: [0x42],
  F9: [0x43], F10: [0x44], F11: [0x57], F12: [0x58], ControlRight: [0xe0, 0x1d], AltRight: [0xe0, 0x38],
  Home: [0xe0, 0x47], ArrowUp: [0xe0, 0x48], PageUp: [0xe0, 0x49], ArrowLeft: [0xe0, 0x4b], ArrowRight: [0xe0, 0x4d],
  End: [0xe0, 0x4f], ArrowDown: [0xe0, 0x50], PageDown: [0xe0, 0x51], Insert: [0xe0, 0x52], Delete: [0xe0, 0x53],
};

export function scancodes(code: string, down: boolean): number[] | null {
  const make = SET1[code];
  if (!make) return null;
  if (down) return make;
  return make.length === 2 ? [0xe0, make[1]! | 0x80] : [make[0]! | 0x80];
}

const CELL_W = 9;
const CELL_H = 16;

/** Picture size on the page: small modes are doubled, and the height follows at 4:3. */
function graphicsSize(width: number): { w: number; h: number } {
  const w = width < 640 ? width * 2 : width;
  return { w, h: Math.round((w * 3) / 4) };
}

function drawText(canvas: HTMLCanvasElement, s: Extract<ScreenPicture, { kind: 'text' }> | null): void {
  const ctx = canvas.getContext('2d')!;
  const cols = s?.cols ?? 80;
  const rows = s?.rows ?? 25;
  canvas.width = cols * CELL_W;
  canvas.height = rows * CELL_H;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!s) {
    ctx.fillStyle = '#6b7280';
    ctx.font = '14px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText('Nothing on the screen yet', canvas.width / 2, canvas.height / 2);
    return;
  }
  ctx.textAlign = 'left';
  ctx.font = `${CELL_H - 2}px "DejaVu Sans Mono", Menlo, Consolas, monospace`;
  ctx.textBaseline = 'top';
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const cell = s.cells[r * cols + c] ?? 0;
      const ch = cell & 0xff;
      const attr = cell >> 8;
      ctx.fillStyle = VGA[(attr >> 4) & 7]!;
      ctx.fillRect(c * CELL_W, r * CELL_H, CELL_W, CELL_H);
      if (ch !== 0x20 && ch !== 0) {
        ctx.fillStyle = VGA[attr & 15]!;
        ctx.fillText(glyph(ch), c * CELL_W, r * CELL_H + 1);
      }
    }
  if (s.cursor.visible) {
    ctx.fillStyle = '#aaaaaa';
    ctx.fillRect(s.cursor.col * CELL_W, s.cursor.row * CELL_H + CELL_H - 3, CELL_W, 2);
  }
}

/** PC/AT make and break codes of Ctrl+Alt+Del, which no browser lets a page receive from the keyboard. */
const CTRL_ALT_DEL_DOWN = [0x1d, 0x38, 0xe0, 0x53];
const CTRL_ALT_DEL_UP = [0xe0, 0xd3, 0xb8, 0x9d];

interface KeyboardLock {
  lock?(codes?: string[]): Promise<void>;
  unlock?(): void;
}
const keyboardLock = (): KeyboardLock | undefined => (navigator as Navigator & { keyboard?: KeyboardLock }).keyboard;

export type ScreenScale = 'fit' | 'actual';

export function VgaScreenView(props: { vmId: string; running: boolean; onKeys(codes: number[]): void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const picture = useScreenFeed(props.vmId);
  const [scale, setScale] = useState<ScreenScale>('fit');
  const [captured, setCaptured] = useState(false);
  const [fullscreen, setFullscreen] = useState(false);
  const [focused, setFocused] = useState(false);
  /** Keys whose make code the guest has and whose break code it has not. */
  const held = useRef(new Set<string>());

  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    if (picture?.kind === 'graphics') {
      const { w, h } = graphicsSize(picture.width);
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      const ctx = canvas.getContext('2d')!;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(picture.frame, 0, 0, w, h);
      return;
    }
    drawText(canvas, picture?.kind === 'text' ? picture : null);
  }, [picture]);

  // The mouse: motion gathered between two sends, so a fast mouse costs one call per 10 ms at most.
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    let dx = 0;
    let dy = 0;
    let dz = 0;
    let buttons = 0;
    let sentButtons = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = (): void => {
      timer = null;
      if (!dx && !dy && !dz && buttons === sentButtons) return;
      const m = [dx, dy, dz, buttons] as const;
      dx = dy = dz = 0;
      sentButtons = buttons;
      void api.sendMouse(props.vmId, ...m).catch(() => {});
    };
    const soon = (now = false): void => {
      if (now) {
        if (timer) clearTimeout(timer);
        flush();
      } else timer ??= setTimeout(flush, 10);
    };
    const locked = (): boolean => document.pointerLockElement === canvas;
    const onLockChange = (): void => {
      setCaptured(locked());
      if (!locked() && buttons) {
        // Released with a button held: let the guest see it go up.
        buttons = 0;
        soon(true);
      }
    };
    const onMove = (e: MouseEvent): void => {
      if (!locked()) return;
      dx += Math.round(e.movementX);
      dy += Math.round(e.movementY);
      soon();
    };
    const onButton = (e: MouseEvent): void => {
      if (!locked()) return;
      e.preventDefault();
      buttons = e.buttons & 0x1f;
      soon(true);
    };
    const onWheel = (e: WheelEvent): void => {
      if (!locked()) return;
      e.preventDefault();
      dz += Math.sign(e.deltaY);
      soon();
    };
    document.addEventListener('pointerlockchange', onLockChange);
    document.addEventListener('mousemove', onMove);
    document.addEventListener('mousedown', onButton);
    document.addEventListener('mouseup', onButton);
    canvas.addEventListener('wheel', onWheel, { passive: false });
    return () => {
      if (timer) clearTimeout(timer);
      if (locked()) document.exitPointerLock();
      document.removeEventListener('pointerlockchange', onLockChange);
      document.removeEventListener('mousemove', onMove);
      document.removeEventListener('mousedown', onButton);
      document.removeEventListener('mouseup', onButton);
      canvas.removeEventListener('wheel', onWheel);
    };
  }, [props.vmId]);

  useEffect(() => {
    const onChange = (): void => {
      const on = document.fullscreenElement === wrap.current && wrap.current !== null;
      setFullscreen(on);
      // Keyboard Lock takes effect in fullscreen: system shortcuts (Alt+Tab, Ctrl+W...) then reach the guest.
      if (on) void keyboardLock()?.lock?.().catch(() => {});
      else keyboardLock()?.unlock?.();
    };
    document.addEventListener('fullscreenchange', onChange);
    return () => document.removeEventListener('fullscreenchange', onChange);
  }, []);

  const key = (e: React.KeyboardEvent, down: boolean): void => {
    // While the screen has the focus every key is the guest's, browser shortcuts too where the browser lets them go.
    e.preventDefault();
    const codes = scancodes(e.code, down);
    if (codes) {
      props.onKeys(codes);
      if (down) held.current.add(e.code);
      else held.current.delete(e.code);
    }
    // Ctrl+Alt gives mouse and keyboard back, as in VMware; otherwise the focus would be a trap.
    if (down && e.ctrlKey && e.altKey && (e.code.startsWith('Control') || e.code.startsWith('Alt'))) {
      if (document.pointerLockElement === ref.current) document.exitPointerLock();
      ref.current?.blur();
    }
  };
  const releaseKeys = (): void => {
    // Keys still down when the focus leaves would stay down in the guest: let them go there.
    for (const code of held.current) {
      const codes = scancodes(code, false);
      if (codes) props.onKeys(codes);
    }
    held.current.clear();
    setFocused(false);
  };
  const graphics = picture?.kind === 'graphics';
  return (
    <div className={`screen-wrap${fullscreen ? ' full' : ''}`} ref={wrap}>
      <div className="screen-bar">
        <div className="seg" role="group" aria-label="Screen size">
          <button aria-pressed={scale === 'fit'} className={scale === 'fit' ? 'on' : ''} onClick={() => setScale('fit')}>
            Scale to fit
          </button>
          <button aria-pressed={scale === 'actual'} className={scale === 'actual' ? 'on' : ''} onClick={() => setScale('actual')}>
            1:1
          </button>
        </div>
        <button onClick={() => (fullscreen ? void document.exitFullscreen() : void wrap.current?.requestFullscreen().catch(() => {}))}>{fullscreen ? 'Exit fullscreen' : 'Fullscreen'}</button>
        <button
          disabled={!props.running}
          onClick={() => {
            props.onKeys(CTRL_ALT_DEL_DOWN);
            props.onKeys(CTRL_ALT_DEL_UP);
          }}
        >
          Send Ctrl+Alt+Del
        </button>
        <span className="screen-hint" role="status" data-testid="mouse-hint">
          {captured
            ? 'Mouse and keyboard captured: press Ctrl+Alt to release them'
            : focused
              ? 'Keyboard captured: press Ctrl+Alt to release it; click for the mouse'
              : props.running
                ? 'Click the screen to capture the mouse and keyboard'
                : ''}
        </span>
      </div>
      <div className={`screen-view ${scale}`}>
        <canvas
          ref={ref}
          className={`vga ${scale}${graphics ? ' graphics' : ''}`}
          tabIndex={0}
          aria-label="The VM's screen"
          onKeyDown={(e) => key(e, true)}
          onKeyUp={(e) => key(e, false)}
          onContextMenu={(e) => e.preventDefault()}
          onFocus={() => setFocused(true)}
          onBlur={releaseKeys}
          onClick={() => {
            ref.current?.focus();
            if (props.running && document.pointerLockElement !== ref.current) void Promise.resolve(ref.current?.requestPointerLock()).catch(() => {});
          }}
        />
      </div>
    </div>
  );
}
