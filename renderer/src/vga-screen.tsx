// The VGA screen drawn on a canvas, as a monitor shows it: a text mode with 16-colour attributes,
// CP437 box drawing mapped to Unicode and the cursor; a graphics mode scaled to 4:3, the way a VGA
// monitor stretches 320x200 or 640x350 to its whole tube. Keys pressed on the canvas go to the guest
// as PC set-1 scancodes.
import { useEffect, useRef } from 'react';
import type { GraphicsScreen, Screen, TextScreen } from '../../vmm/machine-api.ts';

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

/** Picture width on the page: small modes are doubled, and the height follows at 4:3. */
function graphicsSize(s: GraphicsScreen): { w: number; h: number } {
  const w = s.width < 640 ? s.width * 2 : s.width;
  return { w, h: Math.round((w * 3) / 4) };
}

function drawGraphics(canvas: HTMLCanvasElement, s: GraphicsScreen): void {
  const { w, h } = graphicsSize(s);
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, w, h);
  const image = new ImageData(s.width, s.height);
  const rgba = image.data;
  if (s.format === 'rgba') {
    if (s.pixels.length !== s.width * s.height * 4) return;
    rgba.set(s.pixels);
  } else {
    if (s.pixels.length !== s.width * s.height || s.palette.length !== 768) return;
    for (let i = 0; i < s.pixels.length; i++) {
      const c = s.pixels[i]! * 3;
      rgba[i * 4] = s.palette[c]!;
      rgba[i * 4 + 1] = s.palette[c + 1]!;
      rgba[i * 4 + 2] = s.palette[c + 2]!;
      rgba[i * 4 + 3] = 255;
    }
  }
  const frame = document.createElement('canvas');
  frame.width = s.width;
  frame.height = s.height;
  frame.getContext('2d')!.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(frame, 0, 0, w, h);
}

export function VgaScreenView(props: { screen: Screen | null; onKeys(codes: number[]): void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    if (props.screen?.kind === 'graphics') {
      drawGraphics(canvas, props.screen);
      return;
    }
    const s: TextScreen | null = props.screen;
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
  }, [props.screen]);
  const key = (e: React.KeyboardEvent, down: boolean): void => {
    const codes = scancodes(e.code, down);
    if (codes) {
      e.preventDefault();
      props.onKeys(codes);
    }
  };
  return <canvas ref={ref} className="vga" tabIndex={0} onKeyDown={(e) => key(e, true)} onKeyUp={(e) => key(e, false)} />;
}
