// A miniature of a VM's screen for the library list: redrawn at most every two seconds, so a
// guest that repaints all the time costs the page almost nothing. Text modes are drawn as blocks
// (the cell's background, and its foreground where a character stands); graphics scaled down.
import { useEffect, useRef } from 'react';
import { useScreenFeed, type ScreenPicture } from './screen-feed.ts';

const W = 96;
const H = 72;
const EVERY_MS = 2000;
const VGA = ['#000000', '#0000aa', '#00aa00', '#00aaaa', '#aa0000', '#aa00aa', '#aa5500', '#aaaaaa', '#555555', '#5555ff', '#55ff55', '#55ffff', '#ff5555', '#ff55ff', '#ffff55', '#ffffff'];

function draw(canvas: HTMLCanvasElement, s: ScreenPicture): void {
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
  ctx.drawImage(s.frame, 0, 0, W, H);
}

/** The VM's screen, pulled from the host at most every EVERY_MS (screen-feed.ts). */
export function Thumbnail(props: { vmId: string; name: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const picture = useScreenFeed(props.vmId, EVERY_MS);
  useEffect(() => {
    if (ref.current && picture) draw(ref.current, picture);
  }, [picture, picture?.version]);
  if (!picture) return null;
  return <canvas ref={ref} className="thumb" width={W} height={H} role="img" aria-label={`Screen of ${props.name}`} />;
}
