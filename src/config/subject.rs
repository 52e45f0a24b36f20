//! X.509 subject names as structures, not strings (RFC 4514): what a client bound to a TLS
//! identity (`clients.X.cert_subject`) must present, and what the upstream is told in
//! `X-Client-Cert-Subject`.
//!
//! Compared attribute by attribute, never as text: a certificate whose only attribute is
//! `CN="partner-app, O=Bank"` is one RDN, and cannot pass for `CN=partner-app, O=Bank`,
//! which is two. Rendered with RFC 4514 §2.4 escaping (`CN=partner-app\, O=Bank`), most
//! specific RDN first (RFC 4514 §2.1), so the text an upstream reads is unambiguous too.

use std::fmt;

/// One attribute of an RDN: its type (an upper-case short name such as `CN`, or a dotted
/// OID) and its value (a string; from a certificate, `#` and the hex of the value's DER
/// when it is not a string, which renders as `\#…` and so never equals a configured
/// string by accident).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `CN`, `O`, `OU`, `C`, … or a dotted OID.
    pub kind: String,
    /// The value, unescaped.
    pub value: String,
}

/// A distinguished name: RDNs in RFC 4514 order (most specific first), each a set of
/// attributes (usually one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectName {
    rdns: Vec<Vec<Attribute>>,
}

/// Why a configured subject does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 4514 distinguished name: {0}")]
pub struct SubjectError(&'static str);

impl SubjectName {
    /// From RDNs in RFC 4514 order (most specific first). Attribute types are upper-cased.
    pub fn from_rdns(rdns: Vec<Vec<Attribute>>) -> Self {
        let rdns = rdns
            .into_iter()
            .map(|rdn| {
                let mut rdn: Vec<Attribute> = rdn
                    .into_iter()
                    .map(|a| Attribute {
                        kind: a.kind.to_ascii_uppercase(),
                        value: a.value,
                    })
                    .collect();
                // A multi-valued RDN is a set: its order carries no meaning.
                rdn.sort_by(|a, b| (&a.kind, &a.value).cmp(&(&b.kind, &b.value)));
                rdn
            })
            .collect();
        SubjectName { rdns }
    }

    /// Parses the RFC 4514 string form (`CN=app,O=Bank`; `\,` `\+` `\"` `\\` `\XX`
    /// escapes; spaces around `,`, `+` and `=` tolerated).
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        let mut rdns = Vec::new();
        for rdn in split_unescaped(text, b',')? {
            let mut attributes = Vec::new();
            for pair in split_unescaped(rdn, b'+')? {
                let (kind, value) = pair
                    .split_once('=')
                    .ok_or(SubjectError("an attribute without `=`"))?;
                let kind = kind.trim();
                let valid_kind = !kind.is_empty()
                    && kind
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !valid_kind {
                    return Err(SubjectError("a bad attribute type"));
                }
                attributes.push(Attribute {
                    kind: kind.to_owned(),
                    value: unescape(trim_unescaped(value))?,
                });
            }
            rdns.push(attributes);
        }
        if rdns.is_empty() {
            return Err(SubjectError("empty"));
        }
        Ok(SubjectName::from_rdns(rdns))
    }
}

impl fmt::Display for SubjectName {
    /// The RFC 4514 string, every special character escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, attribute) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}=", attribute.kind)?;
                write_escaped(f, &attribute.value)?;
            }
        }
        Ok(())
    }
}

/// RFC 4514 §2.4: `"`, `+`, `,`, `;`, `<`, `>`, `\` escaped anywhere, `#` and space at the
/// start, space at the end, and control characters as `\XX`.
fn write_escaped(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => write!(f, "\\{c}")?,
            '#' | ' ' if i == 0 => write!(f, "\\{c}")?,
            ' ' if i == last => f.write_str("\\ ")?,
            c if c.is_control() || !c.is_ascii() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    write!(f, "\\{b:02X}")?;
                }
            }
            c => write!(f, "{c}")?,
        }
    }
    Ok(())
}

/// The value without the spaces around it, keeping an escaped trailing space (`\ `).
fn trim_unescaped(value: &str) -> &str {
    let value = value.trim_start();
    let bytes = value.as_bytes();
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == b' ' {
        // Count the backslashes before this space: an odd number escapes it.
        let slashes = bytes[..end - 1]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        if slashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &value[..end]
}

/// Splits on `sep` where it is not escaped by `\`.
fn split_unescaped(text: &str, sep: u8) -> Result<Vec<&str>, SubjectError> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == sep => {
                parts.push(&text[start..i]);
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    if i > bytes.len() {
        return Err(SubjectError("a `\\` at the end"));
    }
    parts.push(&text[start..]);
    if parts.iter().any(|p| p.trim().is_empty()) && !text.trim().is_empty() {
        return Err(SubjectError("an empty RDN or attribute"));
    }
    Ok(parts)
}

/// Removes RFC 4514 escapes: `\` and a special character, or `\` and two hex digits (one
/// byte of UTF-8).
fn unescape(value: &str) -> Result<String, SubjectError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let next = *bytes.get(i + 1).ok_or(SubjectError("a `\\` at the end"))?;
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) if next.is_ascii_hexdigit() => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(next);
                i += 2;
            }
        }
    }
    String::from_utf8(out).map_err(|_| SubjectError("escapes that are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: &str, value: &str) -> Attribute {
        Attribute {
            kind: kind.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_comma_inside_a_value_is_not_an_rdn_separator() {
        let two = SubjectName::parse("CN=partner-app, O=Bank").unwrap();
        let one = SubjectName::from_rdns(vec![vec![attr("CN", "partner-app, O=Bank")]]);
        assert_ne!(one, two);
        assert_eq!(one.to_string(), "CN=partner-app\\, O\\=Bank");
        assert_eq!(SubjectName::parse(&one.to_string()).unwrap(), one);
        assert_eq!(two.to_string(), "CN=partner-app,O=Bank");
    }

    #[test]
    fn spacing_and_case_of_types_do_not_matter_but_values_do() {
        let a = SubjectName::parse("cn=app , O = Bank").unwrap();
        let b = SubjectName::parse("CN=app,O=Bank").unwrap();
        assert_eq!(a, b);
        assert_ne!(b, SubjectName::parse("CN=App,O=Bank").unwrap());
        assert_ne!(b, SubjectName::parse("O=Bank,CN=app").unwrap());
    }

    #[test]
    fn escapes_round_trip() {
        let name = SubjectName::from_rdns(vec![vec![
            attr("CN", " #lead, \"q\" + <x>; back\\slash trail "),
            attr("UID", "7"),
        ]]);
        let text = name.to_string();
        assert_eq!(SubjectName::parse(&text).unwrap(), name, "{text}");
        assert_eq!(
            SubjectName::parse("CN=\\41pp").unwrap(),
            SubjectName::parse("CN=App").unwrap()
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", "CN", "CN=a,", ",CN=a", "CN=a\\", "C N=a", "CN=a++O=b"] {
            assert!(SubjectName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
