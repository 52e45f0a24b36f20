// Strict base64url (RFC 4648 §5) without padding: docs/protocol.md, "Conventions".
// One byte string has exactly one accepted text: no "=", no "+" or "/", no white space,
// no length of 1 modulo 4, and no stray bits in the last character.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const CODES = new Uint8Array(64);
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  CODES[i] = ALPHABET.charCodeAt(i);
  VALUES[ALPHABET.charCodeAt(i)] = i;
}
const ascii = new TextDecoder();

/** Bytes from a Uint8Array, any other ArrayBufferView, or an ArrayBuffer (no copy when possible). */
export function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  throw new TypeError("expected a Uint8Array, an ArrayBufferView or an ArrayBuffer");
}

/** base64url without padding of `bytes`. */
export function b64uEncode(input) {
  const bytes = toBytes(input);
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil((n * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = CODES[v >>> 18];
    out[o++] = CODES[(v >>> 12) & 63];
    out[o++] = CODES[(v >>> 6) & 63];
    out[o++] = CODES[v & 63];
  }
  if (n - i === 1) {
    const v = bytes[i] << 16;
    out[o++] = CODES[v >>> 18];
    out[o++] = CODES[(v >>> 12) & 63];
  } else if (n - i === 2) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out[o++] = CODES[v >>> 18];
    out[o++] = CODES[(v >>> 12) & 63];
    out[o++] = CODES[(v >>> 6) & 63];
  }
  return ascii.decode(out);
}

/**
 * Decodes strict base64url. Throws a SyntaxError (whose message never quotes the text) on
 * anything else.
 */
export function b64uDecode(text) {
  if (typeof text !== "string") throw new SyntaxError("base64url: not a string");
  const n = text.length;
  const rest = n % 4;
  if (rest === 1) throw new SyntaxError("base64url: impossible length");
  const out = new Uint8Array(((n - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  let o = 0;
  const value = (at) => {
    const c = text.charCodeAt(at);
    const v = c < 128 ? VALUES[c] : -1;
    if (v < 0) throw new SyntaxError("base64url: a character outside the alphabet");
    return v;
  };
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const v = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6) | value(i + 3);
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  if (rest === 2) {
    const a = value(i);
    const b = value(i + 1);
    if (b & 15) throw new SyntaxError("base64url: stray bits in the last character");
    out[o++] = (a << 2) | (b >>> 4);
  } else if (rest === 3) {
    const a = value(i);
    const b = value(i + 1);
    const c = value(i + 2);
    if (c & 3) throw new SyntaxError("base64url: stray bits in the last character");
    out[o++] = (a << 2) | (b >>> 4);
    out[o++] = ((b & 15) << 4) | (c >>> 2);
  }
  return out;
}
