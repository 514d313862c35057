// A miniature of a VM's screen for the library list: redrawn at most every two seconds, so a
// guest that repaints all the time costs the page almost nothing. Text modes are drawn as blocks
// (the cell's background, and its foreground where a character stands); graphics scaled down.
import { useEffect, useRef } from 'react';
import type { Screen } from '../../vmm/machine-api.ts';

const W = 96;
const H = 72;
const EVERY_MS = 2000;
const VGA = ['#000000', '#0000aa', '#00aa00', '#00aaaa', '#aa0000', '#aa00aa', '#aa5500', '#aaaaaa', '#555555', '#5555ff', '#55ff55', '#55ffff', '#ff5555', '#ff55ff', '#ffff55', '#ffffff'];

function draw(canvas: HTMLCanvasElement, s: Screen): void {
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, W, H);
  if (s.kind === 'text') {
    const cw = W / s.cols;
    const ch = H / s.rows;
    for (let r = 0; r < s.rows; r++)
      for (let c = 0; c < s.cols; c++) {
        const cell = s.cells[r * s.cols + c] ?? 0;
        const attr = cell >> 8;
        const bg = (attr >> 4) & 7;
        if (bg) {
          ctx.fillStyle = VGA[bg]!;
          ctx.fillRect(c * cw, r * ch, cw + 0.5, ch + 0.5);
        }
        const code = cell & 0xff;
        if (code !== 0 && code !== 0x20) {
          ctx.fillStyle = VGA[attr & 15]!;
          ctx.fillRect(c * cw, r * ch + ch * 0.25, cw * 0.8, ch * 0.5);
        }
      }
    return;
  }
  const { width, height, pixels, palette, format } = s;
  if (pixels.length !== width * height * (format === 'rgba' ? 4 : 1)) return;
  // Sample one source pixel per thumbnail pixel: cheap, and enough to recognise the picture.
  const img = ctx.createImageData(W, H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const sx = Math.floor((x * width) / W);
      const sy = Math.floor((y * height) / H);
      const o = (y * W + x) * 4;
      if (format === 'rgba') {
        const i = (sy * width + sx) * 4;
        img.data[o] = pixels[i]!;
        img.data[o + 1] = pixels[i + 1]!;
        img.data[o + 2] = pixels[i + 2]!;
      } else {
        const c = pixels[sy * width + sx]! * 3;
        img.data[o] = palette[c] ?? 0;
        img.data[o + 1] = palette[c + 1] ?? 0;
        img.data[o + 2] = palette[c + 2] ?? 0;
      }
      img.data[o + 3] = 255;
    }
  ctx.putImageData(img, 0, 0);
}

export function Thumbnail(props: { screen: Screen; name: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const latest = useRef(props.screen);
  latest.current = props.screen;
  const drawnAt = useRef(0);
  const timer = useRef<number | null>(null);
  useEffect(() => {
    const paint = (): void => {
      timer.current = null;
      drawnAt.current = performance.now();
      if (ref.current) draw(ref.current, latest.current);
    };
    const wait = EVERY_MS - (performance.now() - drawnAt.current);
    if (wait <= 0) paint();
    else timer.current ??= window.setTimeout(paint, wait);
  }, [props.screen]);
  useEffect(() => () => void (timer.current !== null && clearTimeout(timer.current)), []);
  return <canvas ref={ref} className="thumb" width={W} height={H} role="img" aria-label={`Screen of ${props.name}`} />;
}
