// Who may talk to the web-mode server: only the page it served itself, at the address it printed.
// Loopback is shared by every local program and every page the browser shows, so besides the token
// each request must name this server in Host (a DNS-rebinding page names its own host name), and a
// browser's request must come from this origin (a page on another local port is another origin,
// but the same *site*: SameSite cookies alone do not keep it out).

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface OriginPolicy {
  port: number;
  token: string;
}

function hostsOf(port: number): string[] {
  const names = ['127.0.0.1', 'localhost'];
  // A browser leaves the default port out of Host and Origin.
  return port === 80 ? [...names, ...names.map((n) => `${n}:80`)] : names.map((n) => `${n}:${port}`);
}

/** The cookie carries the port in its name: cookies ignore ports, so two servers must not share one. */
export function cookieName(port: number): string {
  return `hostbox_token_${port}`;
}

export function sameSecret(a: string | null | undefined, b: string): boolean {
  if (!a) return false;
  // Compared as bytes: a string of the token's length in other than ASCII is longer in UTF-8, and timingSafeEqual throws on unequal lengths.
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function hostAllowed(req: IncomingMessage, port: number): boolean {
  const host = header(req, 'host')?.toLowerCase();
  return host !== undefined && hostsOf(port).includes(host);
}

/** An Origin header, when present, must be this server; `required` for the WebSocket, which browsers always send it on. */
export function originAllowed(req: IncomingMessage, port: number, required: boolean): boolean {
  const origin = header(req, 'origin');
  if (origin === undefined) return !required;
  return hostsOf(port).some((h) => origin.toLowerCase() === `http://${h}`);
}

/**
 * Fetch metadata (sent by current browsers): another site, or another origin of this site (a page on
 * another local port), may navigate here (the token still decides) but may not pull in our scripts
 * or pages as subresources, where its cookie would ride along.
 */
export function fetchSiteAllowed(req: IncomingMessage): boolean {
  const site = header(req, 'sec-fetch-site');
  if (site === undefined || site === 'same-origin' || site === 'none') return true;
  return header(req, 'sec-fetch-mode') === 'navigate' && header(req, 'sec-fetch-dest') === 'document';
}

export function tokenFromQuery(url: URL, policy: OriginPolicy): boolean {
  return sameSecret(url.searchParams.get('token'), policy.token);
}

export function tokenFromCookie(req: IncomingMessage, policy: OriginPolicy): boolean {
  const name = cookieName(policy.port);
  for (const part of (header(req, 'cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name && sameSecret(part.slice(eq + 1).trim(), policy.token)) return true;
  }
  return false;
}

export function tokenCookie(policy: OriginPolicy): string {
  return `${cookieName(policy.port)}=${policy.token}; HttpOnly; SameSite=Strict; Path=/`;
}

/** Headers on every answer: no framing, no referrer leaking the token, scripts and sockets only from here. */
export function securityHeaders(port: number): Record<string, string> {
  const sockets = hostsOf(port)
    .filter((h) => h.includes(':') || port === 80)
    .map((h) => `ws://${h}`)
    .join(' ');
  return {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      // xterm.js and React set styles at run time.
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data: blob:",
      "font-src 'self' data:",
      `connect-src 'self' ${sockets}`,
      "base-uri 'none'",
      "form-action 'self'",
      "object-src 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}
