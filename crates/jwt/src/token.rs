//! A compact JWS (RFC 7515 §7.1) carrying JWT claims (RFC 7519), checked against a
//! [`Policy`]: the parsing, the header rules, the key selection, the signature, then the
//! claims, in that order.
//!
//! The order matters. Everything the header says is checked before a key is chosen, and
//! the signature before the claims are parsed, so the JSON parser only reads claims the IdP
//! signed. Errors name *what* failed, never echo the token: a token is a bearer credential,
//! and its parts must not reach a log through an error message.

use std::borrow::Cow;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::algorithm::Algorithm;
use crate::codec::{b64url_decode, parse_object};
use crate::keyset::{KeySet, Selection};

/// The longest token accepted, in bytes. Real access tokens are a few hundred bytes to
/// ~2 KiB; the bound caps the work an unauthenticated request can cause.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The longest text [`Verified::claim_text`] returns, in bytes.
pub const MAX_CLAIM_TEXT_BYTES: usize = 1024;

/// Header parameters that are refused outright. `jku`, `x5u`, `jwk` and `x5c` let a token
/// say where its own key is, or carry it: a verifier that follows them verifies the
/// token against a key the token's author chose. They are never used here, and a token
/// carrying one is refused as an attack or a misconfigured issuer. `crit` lists extensions
/// the verifier must understand (RFC 7515 §4.1.11); none is understood.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jku", "x5u", "jwk", "x5c"];

/// The accepted `typ` values, compared case-insensitively (RFC 7515 §4.1.9): a JWT
/// (RFC 7519 §5.1), an OAuth access token (RFC 9068 §2.1), and their `application/` forms.
const ACCEPTED_TYPES: [&str; 4] = ["JWT", "application/jwt", "at+jwt", "application/at+jwt"];

/// What a route requires of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The one accepted `iss`, compared exactly. Must not be empty.
    pub issuer: String,
    /// The accepted audiences: the token's `aud` must contain at least one.
    pub audiences: Vec<String>,
    /// The algorithms allowed; the header's `alg` must be one of them.
    pub algorithms: Vec<Algorithm>,
    /// The clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// When set, the longest lifetime accepted: `exp` minus `iat` (or `nbf`, or the
    /// current time when neither is present).
    pub max_lifetime_secs: Option<u64>,
    /// Claims that must be present (and not `null`), beyond `iss`, `aud` and `exp`.
    pub required_claims: Vec<String>,
}

impl Policy {
    /// A policy with no leeway, no lifetime bound and no extra required claim.
    pub fn new(
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = impl Into<String>>,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Policy {
        Policy {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            algorithms: algorithms.into_iter().collect(),
            leeway_secs: 0,
            max_lifetime_secs: None,
            required_claims: Vec::new(),
        }
    }

    /// Checks that the policy can accept any token at all, for the caller's configuration
    /// check. [`verify`] fails closed on such a policy anyway (an empty issuer or
    /// audience matches nothing), but a clear error at startup is better.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.issuer.is_empty() {
            return Err(PolicyError::EmptyIssuer);
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(PolicyError::NoAudience);
        }
        if self.algorithms.is_empty() {
            return Err(PolicyError::NoAlgorithm);
        }
        if self.required_claims.iter().any(String::is_empty) {
            return Err(PolicyError::EmptyClaimName);
        }
        Ok(())
    }
}

/// A [`Policy`] that cannot accept any token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// `issuer` is empty.
    #[error("the issuer is empty")]
    EmptyIssuer,
    /// `audiences` is empty, or one of them is.
    #[error("no audience, or an empty one")]
    NoAudience,
    /// `algorithms` is empty.
    #[error("no algorithm is allowed")]
    NoAlgorithm,
    /// A required claim's name is empty.
    #[error("a required claim's name is empty")]
    EmptyClaimName,
}

/// Why a token was refused. Variants are stable: the gateway maps them to response codes,
/// and refreshes the JWK Set on [`JwtError::UnknownKid`] only.
///
/// No variant carries any part of the token or of a key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwtError {
    /// Not a well-formed compact JWS with JSON-object header and claims, or a claim of the
    /// wrong type; says which rule failed.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header has a parameter that is never accepted (`crit`, `jku`, `x5u`, `jwk`,
    /// `x5c`); names it.
    #[error("header parameter `{0}` is not accepted")]
    ForbiddenHeader(&'static str),
    /// The header's `typ` is not `JWT` or `at+jwt` (or their `application/` forms).
    #[error("the token type is not accepted")]
    WrongType,
    /// The header's `alg` is not in the policy's allow-list (`none` and `HS*` never are).
    #[error("the signature algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// No key to verify with. With `present` (the header has a `kid`), the set has no
    /// usable key of that `kid`: the IdP may have rotated its keys, so a refresh of the set
    /// may help. Without, not exactly one key fits the algorithm.
    #[error("no key to verify the token with")]
    UnknownKid {
        /// Whether the header has a `kid`.
        present: bool,
    },
    /// The `kid` names a key of another type than the algorithm needs, or whose JWK
    /// names another algorithm.
    #[error("the key does not fit the signature algorithm")]
    KeyMismatch,
    /// The signature does not verify (a wrong key, an altered token, a DER-encoded ES256
    /// signature).
    #[error("bad signature")]
    BadSignature,
    /// `exp` plus the leeway is not after the current time.
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat`, less the leeway, is after the current time.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `exp` is further from `iat` (or `nbf`, or now) than the policy's maximum lifetime.
    #[error("the token's lifetime is longer than the policy allows")]
    LifetimeTooLong,
    /// `iss` is not the policy's issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// No `aud` is one of the policy's audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent (or `null`): `iss`, `aud`, `exp`, or one of the
    /// policy's `required_claims`; names it.
    #[error("missing claim `{0}`")]
    MissingClaim(Cow<'static, str>),
}

/// What a verified token yields.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The claims, as the IdP signed them.
    pub claims: Map<String, Value>,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The algorithm the signature was verified with.
    pub algorithm: Algorithm,
    /// `exp`, in seconds since the epoch (rounded down): how long a result may be cached.
    pub expires_at: i64,
}

impl Verified {
    /// Claim `name` as text fit for an HTTP header value: a string as it is, an integer or
    /// a boolean as its JSON text. `None` for an absent claim, `null`, an object, an array,
    /// a fractional number, or a string with a control character (CR and LF among them)
    /// or longer than [`MAX_CLAIM_TEXT_BYTES`]. Non-ASCII text is returned as it is; the
    /// caller decides whether its header may carry it.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Value::String(text) => (text.len() <= MAX_CLAIM_TEXT_BYTES
                && !text.chars().any(char::is_control))
            .then(|| text.clone()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
            _ => None,
        }
    }
}

/// The header parameters this crate uses.
struct Header<'a> {
    alg: Algorithm,
    kid: Option<&'a str>,
}

/// Reads and checks a JWS header: no forbidden parameter, an `alg` the policy allows, an
/// accepted `typ`, a string `kid`.
fn read_header<'a>(
    header: &'a Map<String, Value>,
    policy: &Policy,
) -> Result<Header<'a>, JwtError> {
    if let Some(name) = FORBIDDEN_HEADERS
        .into_iter()
        .find(|name| header.contains_key(*name))
    {
        return Err(JwtError::ForbiddenHeader(name));
    }
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Algorithm::from_name(name)
            .filter(|alg| policy.algorithms.contains(alg))
            .ok_or(JwtError::AlgorithmNotAllowed)?,
        Some(_) => return Err(JwtError::Malformed("alg is not a string")),
        None => return Err(JwtError::Malformed("header has no alg")),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(typ))
            if ACCEPTED_TYPES
                .iter()
                .any(|accepted| accepted.eq_ignore_ascii_case(typ)) => {}
        Some(Value::String(_)) => return Err(JwtError::WrongType),
        Some(_) => return Err(JwtError::Malformed("typ is not a string")),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JwtError::Malformed("kid is not a string")),
    };
    Ok(Header { alg, kid })
}

/// Verifies a compact JWS `token` against `keys` and `policy` at time `now_secs`
/// (seconds since the epoch), and returns its claims.
///
/// The token (without any `Bearer ` prefix) must be three non-empty strict base64url
/// segments, at most [`MAX_TOKEN_BYTES`] in all, whose header and claims are JSON objects
/// with unique member names.
///
/// # Errors
/// [`JwtError`] says which rule refused the token.
pub fn verify(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now_secs: i64,
) -> Result<Verified, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed("token longer than 8 KiB"));
    }
    let mut segments = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(JwtError::Malformed("not three dot-separated segments"));
    };
    if header_b64.is_empty() || claims_b64.is_empty() || signature_b64.is_empty() {
        return Err(JwtError::Malformed("empty segment"));
    }
    let (Some(header_json), Some(claims_json), Some(signature)) = (
        b64url_decode(header_b64),
        b64url_decode(claims_b64),
        b64url_decode(signature_b64),
    ) else {
        return Err(JwtError::Malformed("segment is not strict base64url"));
    };
    let header = parse_object(&header_json).ok_or(JwtError::Malformed(
        "header is not a JSON object with unique members",
    ))?;
    let Header { alg, kid } = read_header(&header, policy)?;
    let key = keys.select(kid, alg).map_err(|failure| match failure {
        Selection::UnknownKid => JwtError::UnknownKid { present: true },
        Selection::NoUniqueKey => JwtError::UnknownKid { present: false },
        Selection::Mismatch => JwtError::KeyMismatch,
    })?;
    // The signing input is the two segments as sent (RFC 7515 §5.2).
    let signing_input = &token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    key.verify(alg, signing_input, &signature)
        .map_err(|()| JwtError::BadSignature)?;

    let claims = parse_object(&claims_json).ok_or(JwtError::Malformed(
        "claims are not a JSON object with unique members",
    ))?;
    let expires_at = check_claims(&claims, policy, now_secs)?;
    Ok(Verified {
        claims,
        kid: kid.map(str::to_owned),
        algorithm: alg,
        expires_at,
    })
}

/// A claim that must be present: absent and `null` are [`JwtError::MissingClaim`].
fn required<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a Value, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(JwtError::MissingClaim(Cow::Borrowed(name))),
        Some(value) => Ok(value),
    }
}

/// A NumericDate claim (RFC 7519 §2) as whole seconds: an integer, or a finite number
/// with a fraction, rounded down. `Ok(None)` when absent; anything else (a string, `null`,
/// a value beyond `i64`) is malformed.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    // 2^63, exactly representable: the first float beyond `i64`.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let malformed = || {
        JwtError::Malformed(match name {
            "exp" => "exp is not a number of seconds",
            "nbf" => "nbf is not a number of seconds",
            _ => "iat is not a number of seconds",
        })
    };
    let Value::Number(number) = value else {
        return Err(malformed());
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(Some(seconds));
    }
    match number.as_f64().map(f64::floor) {
        // The range check keeps the cast exact (a whole number within `i64`).
        Some(seconds) if seconds.is_finite() && (-LIMIT..LIMIT).contains(&seconds) => {
            Ok(Some(seconds as i64))
        }
        _ => Err(malformed()),
    }
}

/// Checks the claims against the policy at `now`, and returns `exp`.
fn check_claims(claims: &Map<String, Value>, policy: &Policy, now: i64) -> Result<i64, JwtError> {
    let leeway = i64::try_from(policy.leeway_secs).unwrap_or(i64::MAX);

    // Types first, so that a malformed claim is reported as such whatever the time.
    let Value::String(issuer) = required(claims, "iss")? else {
        return Err(JwtError::Malformed("iss is not a string"));
    };
    let audiences: Vec<&str> = match required(claims, "aud")? {
        Value::String(audience) => vec![audience.as_str()],
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(JwtError::Malformed(
                "aud is not a string or an array of strings",
            ))?,
        _ => {
            return Err(JwtError::Malformed(
                "aud is not a string or an array of strings",
            ));
        }
    };
    required(claims, "exp")?;
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::MissingClaim(Cow::Borrowed("exp")))?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;

    if policy.issuer.is_empty() || *issuer != policy.issuer {
        return Err(JwtError::WrongIssuer);
    }
    if !audiences.iter().any(|audience| {
        !audience.is_empty() && policy.audiences.iter().any(|want| want == audience)
    }) {
        return Err(JwtError::WrongAudience);
    }
    if exp.saturating_add(leeway) <= now {
        return Err(JwtError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf.saturating_sub(leeway) > now)
        || iat.is_some_and(|iat| iat.saturating_sub(leeway) > now)
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(max) = policy.max_lifetime_secs {
        let start = iat.or(nbf).unwrap_or(now);
        let lifetime = i128::from(exp) - i128::from(start);
        if lifetime > i128::from(max) {
            return Err(JwtError::LifetimeTooLong);
        }
    }
    for name in &policy.required_claims {
        if matches!(claims.get(name), None | Some(Value::Null)) {
            return Err(JwtError::MissingClaim(Cow::Owned(name.clone())));
        }
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token of these header and claims texts, with a signature that is never checked:
    /// every test here fails before the signature is.
    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(claims.as_bytes()),
            b64(&[7; 64])
        )
    }

    fn policy() -> Policy {
        Policy::new("https://idp.example", ["api"], Algorithm::ALL)
    }

    /// A set with one P-256 key of kid `k` (a generated point: a valid key, whose private
    /// half is dropped).
    fn keys() -> KeySet {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k",
                         "x": b64(&point[1..33]), "y": b64(&point[33..])});
        KeySet::from_json(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap()
    }

    fn refusal(token: &str) -> JwtError {
        verify(token, &keys(), &policy(), NOW).unwrap_err()
    }

    const CLAIMS: &str = r#"{"iss":"https://idp.example","aud":"api","exp":1700000600}"#;

    #[test]
    fn a_header_that_passes_every_check_reaches_the_signature() {
        for header in [
            r#"{"alg":"ES256","kid":"k"}"#,
            r#"{"alg":"ES256"}"#,
            r#"{"alg":"ES256","kid":"k","typ":"JWT"}"#,
            r#"{"alg":"ES256","kid":"k","typ":"jwt"}"#,
            r#"{"alg":"ES256","kid":"k","typ":"at+JWT"}"#,
            r#"{"alg":"ES256","kid":"k","typ":"application/at+jwt"}"#,
            r#"{"alg":"ES256","kid":"k","typ":"application/JWT"}"#,
            r#"{"alg":"ES256","kid":"k","x5t":"abc","cty":"x","b64":true}"#,
        ] {
            assert_eq!(
                refusal(&token(header, CLAIMS)),
                JwtError::BadSignature,
                "{header}"
            );
        }
    }

    #[test]
    fn segments_must_be_three_non_empty_strict_base64url() {
        let good = token(r#"{"alg":"ES256","kid":"k"}"#, CLAIMS);
        let parts: Vec<&str> = good.split('.').collect();
        let (h, c, s) = (parts[0], parts[1], parts[2]);
        let cases = [
            (String::new(), "not three dot-separated segments"),
            (format!("{h}.{c}"), "not three dot-separated segments"),
            (format!("{h}.{c}.{s}."), "not three dot-separated segments"),
            (
                format!("{h}.{c}.{s}.{s}"),
                "not three dot-separated segments",
            ),
            (
                format!("{h}.{c}.{s}.{s}.{s}"),
                "not three dot-separated segments",
            ),
            (format!("{h}.{c}."), "empty segment"),
            (format!(".{c}.{s}"), "empty segment"),
            (format!("{h}..{s}"), "empty segment"),
            (format!("{h}.{c}.{s}="), "segment is not strict base64url"),
            (format!("{h}=.{c}.{s}"), "segment is not strict base64url"),
            (format!("{h}.{c}==.{s}"), "segment is not strict base64url"),
            (format!(" {h}.{c}.{s}"), "segment is not strict base64url"),
            (format!("{h}.{c}.{s}\n"), "segment is not strict base64url"),
            (
                format!("{h}.{c}.+{}", &s[1..]),
                "segment is not strict base64url",
            ),
            (
                format!("{h}.{c}.{}", &s[..s.len() - 1]),
                "segment is not strict base64url",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(refusal(&text), JwtError::Malformed(want), "{text:?}");
        }
    }

    #[test]
    fn the_length_bound_is_8_kib() {
        let header = r#"{"alg":"ES256","kid":"k"}"#;
        let at_bound = (6000..)
            .map(|filler| token(header, &format!(r#"{{"x":"{}"}}"#, "a".repeat(filler))))
            .find(|text| text.len() >= MAX_TOKEN_BYTES)
            .unwrap();
        assert_eq!(at_bound.len(), MAX_TOKEN_BYTES);
        assert_eq!(refusal(&at_bound), JwtError::BadSignature);
        let over = format!("{at_bound}A");
        assert_eq!(
            refusal(&over),
            JwtError::Malformed("token longer than 8 KiB")
        );
    }

    #[test]
    fn the_header_must_be_a_json_object_with_unique_members() {
        for header in [
            &br#"{"alg":"ES256","kid":"k","alg":"ES256"}"#[..],
            br#"{"alg":"none","alg":"ES256","kid":"k"}"#,
            br#"["ES256"]"#,
            br#""ES256""#,
            br#"{"alg":"ES256","kid":"k"} {}"#,
            b"{\"alg\":\"ES256\",\"kid\":\"k\xff\"}",
            b" ",
        ] {
            let text = format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                b64(CLAIMS.as_bytes()),
                b64(&[7; 64])
            );
            assert_eq!(
                refusal(&text),
                JwtError::Malformed("header is not a JSON object with unique members"),
                "{header:?}"
            );
        }
    }

    #[test]
    fn forbidden_header_parameters() {
        for name in ["crit", "jku", "x5u", "jwk", "x5c"] {
            let header = json!({"alg": "ES256", "kid": "k", name: ["x"]}).to_string();
            assert_eq!(
                refusal(&token(&header, CLAIMS)),
                JwtError::ForbiddenHeader(name)
            );
            // Whatever the value, even an empty one.
            let header = json!({"alg": "ES256", "kid": "k", name: null}).to_string();
            assert_eq!(
                refusal(&token(&header, CLAIMS)),
                JwtError::ForbiddenHeader(name)
            );
        }
    }

    #[test]
    fn the_algorithm_must_be_named_and_allowed() {
        for alg in [
            "none", "None", "NONE", "HS256", "HS384", "HS512", "RS384", "ES512", "es256", "",
        ] {
            let header = json!({"alg": alg, "kid": "k"}).to_string();
            assert_eq!(
                refusal(&token(&header, CLAIMS)),
                JwtError::AlgorithmNotAllowed,
                "{alg}"
            );
        }
        assert_eq!(
            refusal(&token(r#"{"kid":"k"}"#, CLAIMS)),
            JwtError::Malformed("header has no alg")
        );
        assert_eq!(
            refusal(&token(r#"{"alg":["ES256"],"kid":"k"}"#, CLAIMS)),
            JwtError::Malformed("alg is not a string")
        );
        // A supported algorithm the policy does not list.
        let mut only_rsa = policy();
        only_rsa.algorithms = vec![Algorithm::Rs256, Algorithm::Ps256];
        let text = token(r#"{"alg":"ES256","kid":"k"}"#, CLAIMS);
        assert_eq!(
            verify(&text, &keys(), &only_rsa, NOW),
            Err(JwtError::AlgorithmNotAllowed)
        );
        only_rsa.algorithms.clear();
        assert_eq!(
            verify(&text, &keys(), &only_rsa, NOW),
            Err(JwtError::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn typ_and_kid_are_checked() {
        for typ in [
            "JOSE",
            "JWS",
            "id_token+jwt",
            "application/json",
            "JWT ",
            "at+jwt;x",
            "",
        ] {
            let header = json!({"alg": "ES256", "kid": "k", "typ": typ}).to_string();
            assert_eq!(
                refusal(&token(&header, CLAIMS)),
                JwtError::WrongType,
                "{typ:?}"
            );
        }
        assert_eq!(
            refusal(&token(r#"{"alg":"ES256","kid":"k","typ":1}"#, CLAIMS)),
            JwtError::Malformed("typ is not a string")
        );
        assert_eq!(
            refusal(&token(r#"{"alg":"ES256","kid":1}"#, CLAIMS)),
            JwtError::Malformed("kid is not a string")
        );
        assert_eq!(
            refusal(&token(r#"{"alg":"ES256","kid":"other"}"#, CLAIMS)),
            JwtError::UnknownKid { present: true }
        );
        assert_eq!(
            refusal(&token(r#"{"alg":"EdDSA"}"#, CLAIMS)),
            JwtError::UnknownKid { present: false }
        );
        assert_eq!(
            refusal(&token(r#"{"alg":"RS256","kid":"k"}"#, CLAIMS)),
            JwtError::KeyMismatch
        );
    }

    fn claims(value: serde_json::Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn check(value: serde_json::Value, policy: &Policy) -> Result<i64, JwtError> {
        check_claims(&claims(value), policy, NOW)
    }

    const ISS: &str = "https://idp.example";

    #[test]
    fn exp_is_required_and_compared_with_the_leeway() {
        let p = policy();
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": NOW + 1}), &p),
            Ok(NOW + 1)
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": NOW}), &p),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": 0}), &p),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": -1}), &p),
            Err(JwtError::Expired)
        );
        let mut lenient = policy();
        lenient.leeway_secs = 30;
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": NOW - 29}), &lenient),
            Ok(NOW - 29)
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": NOW - 30}), &lenient),
            Err(JwtError::Expired)
        );
        // A huge leeway saturates rather than overflowing.
        lenient.leeway_secs = u64::MAX;
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": 1}), &lenient),
            Ok(1)
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": i64::MAX}), &lenient),
            Ok(i64::MAX)
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api", "exp": i64::MAX}), &p),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn numeric_dates_may_have_fractions_but_must_be_numbers() {
        let p = policy();
        let with_exp = |exp: Value| check(json!({"iss": ISS, "aud": "api", "exp": exp}), &p);
        assert_eq!(with_exp(json!(1_700_000_600.9)), Ok(1_700_000_600));
        assert_eq!(with_exp(json!(1_700_000_000.5)), Err(JwtError::Expired));
        assert_eq!(with_exp(json!(1_700_000_001.0)), Ok(NOW + 1));
        assert_eq!(with_exp(json!(-0.5)), Err(JwtError::Expired));
        let malformed = Err(JwtError::Malformed("exp is not a number of seconds"));
        for exp in [
            json!("1700000600"),
            json!(true),
            json!([1_700_000_600]),
            json!({"t": 1}),
            json!(u64::MAX),
            json!(9.3e18),
            json!(-9.3e18),
            json!(1e300),
        ] {
            assert_eq!(with_exp(exp.clone()), malformed, "{exp}");
        }
        assert_eq!(
            with_exp(Value::Null),
            Err(JwtError::MissingClaim("exp".into()))
        );
        assert_eq!(
            check(json!({"iss": ISS, "aud": "api"}), &p),
            Err(JwtError::MissingClaim("exp".into()))
        );
        assert_eq!(
            check(
                json!({"iss": ISS, "aud": "api", "exp": NOW + 9, "nbf": "0"}),
                &p
            ),
            Err(JwtError::Malformed("nbf is not a number of seconds"))
        );
        assert_eq!(
            check(
                json!({"iss": ISS, "aud": "api", "exp": NOW + 9, "iat": null}),
                &p
            ),
            Err(JwtError::Malformed("iat is not a number of seconds"))
        );
        // A number too large for serde_json to hold is not JSON it accepts.
        assert!(parse_object(br#"{"exp":1e400}"#).is_none());
    }

    #[test]
    fn nbf_and_iat_in_the_future_are_not_valid_yet() {
        let p = policy();
        let base = |extra: serde_json::Value| {
            let mut value = json!({"iss": ISS, "aud": "api", "exp": NOW + 600});
            value.as_object_mut().unwrap().extend(claims(extra));
            value
        };
        assert_eq!(
            check(base(json!({"nbf": NOW, "iat": NOW})), &p),
            Ok(NOW + 600)
        );
        assert_eq!(
            check(base(json!({"nbf": NOW + 1})), &p),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            check(base(json!({"iat": NOW + 1})), &p),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            check(base(json!({"iat": NOW as f64 + 0.9})), &p),
            Ok(NOW + 600)
        );
        let mut lenient = policy();
        lenient.leeway_secs = 60;
        assert_eq!(
            check(base(json!({"nbf": NOW + 60, "iat": NOW + 60})), &lenient),
            Ok(NOW + 600)
        );
        assert_eq!(
            check(base(json!({"nbf": NOW + 61})), &lenient),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            check(base(json!({"iat": NOW + 61})), &lenient),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn the_lifetime_bound_counts_from_iat_then_nbf_then_now() {
        let mut p = policy();
        p.max_lifetime_secs = Some(600);
        let with = |extra: serde_json::Value, exp: i64| {
            let mut value = json!({"iss": ISS, "aud": "api", "exp": exp});
            value.as_object_mut().unwrap().extend(claims(extra));
            check(value, &p)
        };
        assert_eq!(with(json!({}), NOW + 600), Ok(NOW + 600));
        assert_eq!(with(json!({}), NOW + 601), Err(JwtError::LifetimeTooLong));
        assert_eq!(with(json!({"iat": NOW - 100}), NOW + 500), Ok(NOW + 500));
        assert_eq!(
            with(json!({"iat": NOW - 100}), NOW + 501),
            Err(JwtError::LifetimeTooLong)
        );
        // iat before nbf: the lifetime counts from iat.
        assert_eq!(
            with(json!({"iat": NOW - 100, "nbf": NOW}), NOW + 501),
            Err(JwtError::LifetimeTooLong)
        );
        assert_eq!(
            with(json!({"nbf": NOW - 100}), NOW + 501),
            Err(JwtError::LifetimeTooLong)
        );
        assert_eq!(with(json!({"nbf": NOW - 100}), NOW + 500), Ok(NOW + 500));
        // No overflow at the extremes.
        assert_eq!(
            with(json!({"iat": i64::MIN}), i64::MAX),
            Err(JwtError::LifetimeTooLong)
        );
    }

    #[test]
    fn issuer_and_audience() {
        let p = policy();
        let with =
            |iss: Value, aud: Value| check(json!({"iss": iss, "aud": aud, "exp": NOW + 9}), &p);
        assert_eq!(with(json!(ISS), json!(["x", "api"])), Ok(NOW + 9));
        assert_eq!(
            with(json!(format!("{ISS}/")), json!("api")),
            Err(JwtError::WrongIssuer)
        );
        assert_eq!(
            with(json!("HTTPS://idp.example"), json!("api")),
            Err(JwtError::WrongIssuer)
        );
        assert_eq!(with(json!(""), json!("api")), Err(JwtError::WrongIssuer));
        assert_eq!(
            with(json!([ISS]), json!("api")),
            Err(JwtError::Malformed("iss is not a string"))
        );
        assert_eq!(
            with(Value::Null, json!("api")),
            Err(JwtError::MissingClaim("iss".into()))
        );
        assert_eq!(with(json!(ISS), json!("API")), Err(JwtError::WrongAudience));
        assert_eq!(
            with(json!(ISS), json!(["x", "y"])),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(with(json!(ISS), json!([])), Err(JwtError::WrongAudience));
        assert_eq!(with(json!(ISS), json!("")), Err(JwtError::WrongAudience));
        let malformed = Err(JwtError::Malformed(
            "aud is not a string or an array of strings",
        ));
        assert_eq!(with(json!(ISS), json!(["api", 1])), malformed);
        assert_eq!(with(json!(ISS), json!([["api"]])), malformed);
        assert_eq!(with(json!(ISS), json!({"api": true})), malformed);
        assert_eq!(with(json!(ISS), json!(7)), malformed);
        assert_eq!(
            with(json!(ISS), Value::Null),
            Err(JwtError::MissingClaim("aud".into()))
        );
        assert_eq!(
            check(json!({"iss": ISS, "exp": NOW + 9}), &p),
            Err(JwtError::MissingClaim("aud".into()))
        );

        // A policy with an empty issuer or no audience accepts nothing.
        let mut empty = policy();
        empty.issuer.clear();
        assert_eq!(
            check_claims(
                &claims(json!({"iss": "", "aud": "api", "exp": NOW + 9})),
                &empty,
                NOW
            ),
            Err(JwtError::WrongIssuer)
        );
        let mut deaf = policy();
        deaf.audiences = vec![String::new()];
        assert_eq!(
            check_claims(
                &claims(json!({"iss": ISS, "aud": "", "exp": NOW + 9})),
                &deaf,
                NOW
            ),
            Err(JwtError::WrongAudience)
        );
    }

    #[test]
    fn required_claims_must_be_present_and_not_null() {
        let mut p = policy();
        p.required_claims = vec!["sub".into(), "scope".into()];
        let base = json!({"iss": ISS, "aud": "api", "exp": NOW + 9, "sub": "u"});
        assert_eq!(
            check(base.clone(), &p),
            Err(JwtError::MissingClaim("scope".into()))
        );
        let mut with_null = base.clone();
        with_null["scope"] = Value::Null;
        assert_eq!(
            check(with_null, &p),
            Err(JwtError::MissingClaim("scope".into()))
        );
        let mut complete = base;
        complete["scope"] = json!("");
        assert_eq!(check(complete, &p), Ok(NOW + 9));
    }

    #[test]
    fn policy_validation() {
        assert_eq!(policy().validate(), Ok(()));
        let mut p = policy();
        p.issuer.clear();
        assert_eq!(p.validate(), Err(PolicyError::EmptyIssuer));
        let mut p = policy();
        p.audiences.clear();
        assert_eq!(p.validate(), Err(PolicyError::NoAudience));
        p.audiences = vec!["api".into(), String::new()];
        assert_eq!(p.validate(), Err(PolicyError::NoAudience));
        let mut p = policy();
        p.algorithms.clear();
        assert_eq!(p.validate(), Err(PolicyError::NoAlgorithm));
        let mut p = policy();
        p.required_claims = vec![String::new()];
        assert_eq!(p.validate(), Err(PolicyError::EmptyClaimName));
    }

    #[test]
    fn claim_text_is_header_safe() {
        let verified = Verified {
            claims: claims(json!({
                "sub": "user-1", "n": 42, "neg": -7, "big": u64::MAX, "f": 1.5, "t": true,
                "null": null, "obj": {"a": 1}, "arr": ["a"], "cr": "a\rb", "lf": "a\nb",
                "tab": "a\tb", "nul": "a\u{0}b", "del": "a\u{7f}b", "c1": "a\u{85}b",
                "utf8": "Zoë", "long": "x".repeat(MAX_CLAIM_TEXT_BYTES + 1),
                "max": "x".repeat(MAX_CLAIM_TEXT_BYTES), "empty": ""
            })),
            kid: None,
            algorithm: Algorithm::Es256,
            expires_at: 0,
        };
        let text = |name| verified.claim_text(name);
        assert_eq!(text("sub").as_deref(), Some("user-1"));
        assert_eq!(text("n").as_deref(), Some("42"));
        assert_eq!(text("neg").as_deref(), Some("-7"));
        assert_eq!(text("big").as_deref(), Some("18446744073709551615"));
        assert_eq!(text("t").as_deref(), Some("true"));
        assert_eq!(text("utf8").as_deref(), Some("Zoë"));
        assert_eq!(text("empty").as_deref(), Some(""));
        assert_eq!(text("max").map(|t| t.len()), Some(MAX_CLAIM_TEXT_BYTES));
        for name in [
            "absent", "f", "null", "obj", "arr", "cr", "lf", "tab", "nul", "del", "c1", "long",
        ] {
            assert_eq!(text(name), None, "{name}");
        }
    }

    #[test]
    fn key_sets_and_results_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<KeySet>();
        shareable::<Policy>();
        shareable::<Verified>();
        shareable::<JwtError>();
    }

    #[test]
    fn errors_never_echo_the_token() {
        let secret_kid = "kid-SECRET-1234";
        let header = json!({"alg": "ES256", "kid": secret_kid}).to_string();
        let text = token(&header, CLAIMS);
        let error = refusal(&text);
        assert_eq!(error, JwtError::UnknownKid { present: true });
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(
                !shown.contains("SECRET") && !shown.contains(&text[..10]),
                "{shown}"
            );
        }
    }
}
