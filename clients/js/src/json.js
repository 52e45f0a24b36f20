// Strict JSON (RFC 8259) for what the protocol reads: docs/protocol.md, "Conventions".
// Unlike JSON.parse it refuses an object that repeats a member name (JSON.parse keeps the
// last one, so two parsers could read one header two ways), a lone UTF-16 surrogate, a byte
// order mark, and text that is not UTF-8. Error messages never quote the input.

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const MAX_DEPTH = 64;

/** Parses `input` (a string, or UTF-8 bytes) strictly. Throws a SyntaxError. */
export function parseJsonStrict(input) {
  let text = input;
  if (typeof input !== "string") {
    try {
      text = utf8.decode(input);
    } catch {
      throw new SyntaxError("JSON: not UTF-8");
    }
  }
  const p = new Parser(text);
  p.ws();
  const value = p.value(0);
  p.ws();
  if (p.at !== text.length) p.fail("trailing characters");
  return value;
}

/** Parses strictly and requires a JSON object. */
export function parseJsonObject(input) {
  const value = parseJsonStrict(input);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new SyntaxError("JSON: not an object");
  return value;
}

class Parser {
  constructor(text) {
    this.text = text;
    this.at = 0;
  }

  fail(what) {
    throw new SyntaxError(`JSON: ${what} at offset ${this.at}`);
  }

  ws() {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.at);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.at++;
      else return;
    }
  }

  value(depth) {
    if (depth > MAX_DEPTH) this.fail("nested too deep");
    const c = this.text[this.at];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, val] of [["true", true], ["false", false], ["null", null]]) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return val;
      }
    }
    this.fail("unexpected character");
  }

  object(depth) {
    this.at++; // {
    const out = {};
    this.ws();
    if (this.text[this.at] === "}") {
      this.at++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.at] !== '"') this.fail("expected a member name");
      const name = this.string();
      if (Object.prototype.hasOwnProperty.call(out, name)) this.fail("repeated member name");
      this.ws();
      if (this.text[this.at] !== ":") this.fail("expected ':'");
      this.at++;
      this.ws();
      // defineProperty: "__proto__" becomes an own member, never the prototype.
      Object.defineProperty(out, name, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.text[this.at++];
      if (c === "}") return out;
      if (c !== ",") {
        this.at--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  array(depth) {
    this.at++; // [
    const out = [];
    this.ws();
    if (this.text[this.at] === "]") {
      this.at++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.text[this.at++];
      if (c === "]") return out;
      if (c !== ",") {
        this.at--;
        this.fail("expected ',' or ']'");
      }
    }
  }

  number() {
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = this.at;
    const found = m.exec(this.text);
    if (!found) this.fail("bad number");
    this.at += found[0].length;
    const n = Number(found[0]);
    if (!Number.isFinite(n)) this.fail("number out of range");
    return n;
  }

  string() {
    const t = this.text;
    this.at++; // opening quote
    let out = "";
    let start = this.at;
    for (;;) {
      if (this.at >= t.length) this.fail("unterminated string");
      const c = t.charCodeAt(this.at);
      if (c === 0x22) {
        out += t.slice(start, this.at);
        this.at++;
        return out;
      }
      if (c < 0x20) this.fail("control character in a string");
      if (c >= 0xd800 && c <= 0xdfff) {
        // Raw surrogates can only come from a string input; a pair is fine, a lone one is not.
        const next = t.charCodeAt(this.at + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          this.at += 2;
          continue;
        }
        this.fail("lone surrogate");
      }
      if (c !== 0x5c) {
        this.at++;
        continue;
      }
      out += t.slice(start, this.at);
      this.at++;
      const e = t[this.at++];
      const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" }[e];
      if (simple !== undefined) {
        out += simple;
      } else if (e === "u") {
        const unit = this.hex4();
        if (unit >= 0xd800 && unit <= 0xdbff) {
          if (t[this.at] !== "\\" || t[this.at + 1] !== "u") this.fail("lone surrogate");
          this.at += 2;
          const low = this.hex4();
          if (low < 0xdc00 || low > 0xdfff) this.fail("lone surrogate");
          out += String.fromCharCode(unit, low);
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          this.fail("lone surrogate");
        } else {
          out += String.fromCharCode(unit);
        }
      } else {
        this.at--;
        this.fail("bad escape");
      }
      start = this.at;
    }
  }

  hex4() {
    const h = this.text.slice(this.at, this.at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail("bad \\u escape");
    this.at += 4;
    return parseInt(h, 16);
  }
}
