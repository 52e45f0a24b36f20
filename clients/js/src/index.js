// @sealgate/client: the sealgate client for browsers and Node >= 18 (WebCrypto and fetch,
// no dependency). The wire contract is docs/protocol.md of the sealgate repository.
export { SealgateClient, Session, SealgateResponse, DEFAULT_TOKEN_PATH, RENEW_BEFORE_MS, IDEMPOTENT_METHODS } from "./client.js";
export { DEFAULT_MAX_RESPONSE_BYTES } from "./http.js";
export { GatewayTrust, DEFAULT_JWKS_PATH } from "./trust.js";
export { SealgateError, ErrorKind, kindFor, parseRetryAfter, parseGatewayError } from "./errors.js";
export { b64uEncode, b64uDecode } from "./base64url.js";
export { parseJsonStrict, parseJsonObject } from "./json.js";
export {
  KDFS,
  getCrypto,
  checkPublicJwk,
  publicJwkText,
  exportPublicJwkText,
  importPublicJwk,
  generateKeyPair,
  agree,
  deriveKeyBytes,
  deriveSessionKey,
  importAesKey,
  dirHeaderText,
  sealCompact,
  seal,
  open,
  thumbprint,
  sealTokenRequest,
  verifyHandshake,
} from "./jose.js";
