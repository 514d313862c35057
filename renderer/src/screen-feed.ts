// A VM's screen as this page has it, kept current by pulling from the host (main/screen-stream.ts):
// a 'screen' event says a newer picture exists, and the page asks for what changed since the one it
// has, one request at a time. A page that falls behind asks less often and gets the changes merged,
// never a queue of old pictures; a page that opens or reloads asks since 0 and gets it all.
import { useEffect, useState } from 'react';
import type { ScreenUpdate } from '../../main/api-types.ts';
import { api } from './api-client.ts';

export type ScreenPicture =
  | { kind: 'text'; cols: number; rows: number; cells: Uint16Array; cursor: { row: number; col: number; visible: boolean }; version: number }
  /** `frame` holds the picture at its own size; `version` changes with every update so React redraws. */
  | { kind: 'graphics'; width: number; height: number; frame: HTMLCanvasElement; version: number };

/** zlib (deflate) to bytes, with the browser's own decompressor. */
async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Applies an update to the frame canvas; false when it does not fit what the page has (then it asks for everything). */
export async function applyGraphics(frame: HTMLCanvasElement, u: Extract<ScreenUpdate, { kind: 'graphics' }>): Promise<boolean> {
  if (!u.full && (frame.width !== u.width || frame.height !== u.height)) return false;
  const raw = await inflate(u.data);
  if (raw.length !== u.rawBytes) return false;
  if (frame.width !== u.width || frame.height !== u.height) {
    frame.width = u.width;
    frame.height = u.height;
  }
  const ctx = frame.getContext('2d')!;
  let at = 0;
  for (let i = 0; i + 3 < u.rects.length; i += 4) {
    const [x, y, w, h] = [u.rects[i]!, u.rects[i + 1]!, u.rects[i + 2]!, u.rects[i + 3]!];
    const n = w * h * 4;
    if (at + n > raw.length || w <= 0 || h <= 0) return false;
    ctx.putImageData(new ImageData(new Uint8ClampedArray(raw.buffer as ArrayBuffer, raw.byteOffset + at, n), w, h), x, y);
    at += n;
  }
  return true;
}

/** `everyMs`: ask at most this often (a thumbnail needs no more), the changes in between merged. */
export function useScreenFeed(vmId: string, everyMs = 0): ScreenPicture | null {
  const [picture, setPicture] = useState<ScreenPicture | null>(null);
  useEffect(() => {
    let live = true;
    /** The version the page shows, and the newest one announced. */
    let have = 0;
    let want = 1;
    let busy = false;
    let lastAsked = -Infinity;
    const frame = document.createElement('canvas');
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (live && want > have) {
          const wait = lastAsked + everyMs - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          if (!live) return;
          lastAsked = performance.now();
          const u = await api.screenUpdate(vmId, have);
          if (!live) return;
          if (u.kind === 'none') {
            setPicture(null);
            have = want = u.version;
            break;
          }
          if (u.kind === 'text') {
            const cells = new Uint16Array(u.cells.slice().buffer, 0, u.cols * u.rows);
            setPicture({ kind: 'text', cols: u.cols, rows: u.rows, cells, cursor: u.cursor, version: u.version });
          } else {
            if (!(await applyGraphics(frame, u))) {
              have = 0;
              continue;
            }
            if (!live) return;
            setPicture({ kind: 'graphics', width: u.width, height: u.height, frame, version: u.version });
          }
          have = u.version;
        }
      } catch {
        // The VM was deleted or the connection is gone: the last picture stays.
      } finally {
        busy = false;
      }
    };
    const off = api.onEvent((e) => {
      if (e.type !== 'screen' || e.id !== vmId) return;
      want = Math.max(want, e.version);
      void pump();
    });
    void pump();
    return () => {
      live = false;
      off();
    };
  }, [vmId, everyMs]);
  return picture;
}
