// What the client and GatewayTrust share about HTTP: reading a body with a size cap, and the
// rule for fetching a JWK Set over http://.

/** The largest answer a call reads by default (32 MiB, as the Python library's HttpTransport). */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
/** The largest JWK Set read (64 KiB): a gateway publishes a few keys. */
export const MAX_JWKS_BYTES = 64 * 1024;

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Thrown by readCapped when the body is over its cap; the caller picks the error kind. */
export class BodyTooLarge extends Error {
  constructor(max) {
    super(`the answer is larger than ${max} bytes`);
    this.name = "BodyTooLarge";
  }
}

/**
 * The body of a fetch Response as bytes, read as a stream and abandoned as soon as it passes
 * `max` bytes (BodyTooLarge): a hostile answer cannot fill the memory. A Content-Length over
 * the cap is refused before reading.
 * @returns {Promise<Uint8Array>}
 */
export async function readCapped(response, max) {
  const declared = response.headers?.get?.("content-length");
  if (declared !== null && declared !== undefined && /^[0-9]+$/.test(declared.trim()) && Number(declared.trim()) > max) {
    await cancel(response.body);
    throw new BodyTooLarge(max);
  }
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  if (body === undefined || typeof body.getReader !== "function") {
    // A fetch without streams (a polyfill): read it all, then check.
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length > max) throw new BodyTooLarge(max);
    return bytes;
  }
  const reader = body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const chunk = value instanceof Uint8Array ? value : new Uint8Array(value);
    total += chunk.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge(max);
    }
    chunks.push(chunk);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

async function cancel(body) {
  try {
    if (body && typeof body.cancel === "function") await body.cancel();
  } catch {
    // nothing to do: the answer is refused anyway
  }
}

/**
 * Throws a TypeError when a JWK Set would be fetched over http:// from a host other than
 * localhost, 127.0.0.1 or ::1 and the app did not opt in with allowInsecureJwksFetch: whoever
 * is on that path could hand over keys of their own, and every later handshake would trust them.
 */
export function checkJwksUrl(url, allowInsecureJwksFetch) {
  const parsed = url instanceof URL ? url : new URL(String(url));
  if (parsed.protocol === "http:" && !LOOPBACK_HOSTS.has(parsed.hostname.toLowerCase()) && allowInsecureJwksFetch !== true) {
    throw new TypeError("the JWK Set would be fetched over http:// from a host other than localhost: use https:, pin the set, or set allowInsecureJwksFetch: true");
  }
}
