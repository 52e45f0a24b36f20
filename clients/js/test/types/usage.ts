// Compiled with `tsc --noEmit` (npm run typecheck): the declarations in index.d.ts must
// describe a typical use of the package, resolved through package.json "exports".
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  ErrorKind,
  GatewayTrust,
  IDEMPOTENT_METHODS,
  SealgateClient,
  SealgateError,
  b64uDecode,
  b64uEncode,
  open,
  seal,
  type CallOptions,
  type JwkSet,
  type SealgateErrorKind,
  type SealgateResponse,
  type Session,
} from "@sealgate/client";

declare const pinned: JwkSet;

async function main(): Promise<void> {
  const trust: GatewayTrust = await GatewayTrust.fromJwks(pinned);
  const kids: string[] = trust.sigKids;
  const client = new SealgateClient({
    baseUrl: "https://gw.example",
    channel: "MOB-APP-2001",
    apiKey: "MOB-APP",
    secret: "TEST123",
    trust,
    kdf: "hkdf-sha256",
  });
  const fetched = new SealgateClient({ baseUrl: new URL("https://gw.example"), channel: "C", apiKey: "A", secret: "S", trust: "fetch", maxResponseBytes: 1 << 20 });
  const lan = new SealgateClient({ baseUrl: "http://gw.lan:8080", channel: "C", apiKey: "A", secret: "S", trust: "fetch", allowInsecureJwksFetch: true });
  const lanTrust: GatewayTrust = await GatewayTrust.fetch("http://gw.lan:8080", { allowInsecureJwksFetch: true });
  const resent: readonly string[] = IDEMPOTENT_METHODS;
  const cap: number = fetched.maxResponseBytes + DEFAULT_MAX_RESPONSE_BYTES;
  const seed = new SealgateClient({ baseUrl: "http://127.0.0.1:8080", channel: "C", apiKey: "A", secret: "S", unauthenticatedHandshake: true });
  // @ts-expect-error: neither trust nor unauthenticatedHandshake
  new SealgateClient({ baseUrl: "https://gw.example", channel: "C", apiKey: "A", secret: "S" });
  // @ts-expect-error: an unknown KDF
  new SealgateClient({ baseUrl: "https://gw.example", channel: "C", apiKey: "A", secret: "S", trust, kdf: "md5" });

  const options: CallOptions = { body: { amount: 100 }, headers: { "X-Request-Id": "abc" } };
  const reply: SealgateResponse = await client.call("POST", "/api/transfer?from=1", options);
  const status: number = reply.status;
  const sealed: boolean = reply.sealed;
  const cty: string | null = reply.cty;
  const data = reply.json<{ status: string }>();
  const text: string = reply.text();
  const bytes: Uint8Array = reply.bytes();
  await client.call("GET", "/api/account/7");
  await client.call("PUT", "/api/doc", { body: new Uint8Array([1, 2]), contentType: "application/pdf" });

  const session: Session = await client.ensureSession();
  const expiry: number = session.expiry;
  const key: CryptoKey = session.key;
  client.session = null;
  client.forget();

  try {
    await fetched.call("GET", "/api/x");
  } catch (error) {
    if (error instanceof SealgateError) {
      const kind: SealgateErrorKind = error.kind;
      const code: string | null = error.resCode;
      const wait: number | null = error.retryAfterSeconds;
      if (kind === ErrorKind.RETRY_LATER && wait !== null) console.log(wait, code, error.status);
      // @ts-expect-error: not a kind of the vocabulary
      const wrong: SealgateErrorKind = "TIMEOUT";
    }
  }

  const k = new Uint8Array(32);
  const jwe: string = await seal(k, new TextEncoder().encode("{}"), { cty: "application/json", typ: "request+jwe", htm: "POST", htp: "/x" });
  const opened = await open(k, jwe, { typ: "response+jwe" });
  const roundTrip: Uint8Array = b64uDecode(b64uEncode(opened.plaintext));
  console.log(kids, status, sealed, cty, data.status, text, bytes, expiry, key, roundTrip, seed, lan, lanTrust, resent, cap);
}

void main;
