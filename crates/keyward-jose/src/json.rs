//! JSON in, with unique member names.
//!
//! RFC 7517 §4: "The member names within a JWK MUST be unique; JWK parsers MUST either reject
//! JWKs with duplicate member names or use a JSON parser that returns only the lexically last
//! duplicate member name" (likewise RFC 7515 §5.2 for JOSE headers; RFC 8259 §4 only says names
//! SHOULD be unique). keyward rejects them, at any depth: two parsers that keep different
//! duplicates (first or last) would see two different keys in the same document, and a reviewer
//! reading the first `"d"` would not see the one that is used.
//!
//! [`from_slice`] reads a document into a [`Value`] and refuses a repeated member name;
//! [`first_duplicate_member`] only answers whether there is one (for request bodies in general).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Append `s` to `out` as a JSON string literal, escaped exactly as `serde_json` writes it
/// (RFC 8259 §7: `"`, `\\`, and the control characters; `\b \f \n \r \t` short, the others
/// `\u00xx` in lower-case hex; nothing else escaped), so text written here and text written by
/// `serde_json` are the same bytes.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Most values (base64, names) need no escape: one branch-free pass says so.
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, so `start..i` and `i + 1..` lie on character boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON (or nested deeper than serde_json's recursion limit of 128).
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// An object holds the same member name twice.
    Duplicate {
        /// The repeated member name.
        member: String,
        /// 1-based line of the second occurrence.
        line: usize,
        /// 1-based column just after it.
        column: usize,
    },
}

/// The prefix of the custom serde error that carries a duplicate name (never shown as such).
const DUPLICATE: &str = "\u{0}duplicate member:";

/// Read a JSON document, refusing any object that repeats a member name.
pub fn from_slice(json: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = UniqueValue
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        match text
            .strip_prefix(DUPLICATE)
            .and_then(|rest| rest.rsplit_once(" at line "))
        {
            Some((member, _)) if e.is_data() => JsonError::Duplicate {
                member: member.to_owned(),
                line,
                column,
            },
            _ => JsonError::Syntax { line, column },
        }
    })
}

/// The first member name repeated within one object of `json`, if `json` is JSON and has one.
/// Documents that are not JSON give `None`: their reader reports them.
pub fn first_duplicate_member(json: &[u8]) -> Option<String> {
    match from_slice(json) {
        Err(JsonError::Duplicate { member, .. }) => Some(member),
        _ => None,
    }
}

/// A [`Value`] whose objects are checked for repeated names as they are read.
struct UniqueValue;

impl<'de> DeserializeSeed<'de> for UniqueValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom(format!("{DUPLICATE}{name}")));
            }
            let value = map.next_value_seed(UniqueValue)?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(json: &str) -> Option<String> {
        first_duplicate_member(json.as_bytes())
    }

    #[test]
    fn unique_documents_read_as_serde_json_reads_them() {
        for doc in [
            r#"{"kty":"EC","crv":"P-256","x":"a","y":"b"}"#,
            r#"{"keys":[{"kid":"1"},{"kid":"1"}]}"#,
            r#"[1, -2, 3.5, true, null, "x", {"a": {"a": 1}}]"#,
            r#"{"a":1,"A":2,"a\u0000":3}"#,
            "  {}  ",
        ] {
            let strict = from_slice(doc.as_bytes()).unwrap();
            let plain: Value = serde_json::from_str(doc).unwrap();
            assert_eq!(strict, plain, "{doc}");
        }
    }

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert_eq!(dup(r#"{"kty":"RSA","kty":"EC"}"#).as_deref(), Some("kty"));
        assert_eq!(
            dup(r#"{"keys":[{"kid":"a"},{"kid":"b","d":"x","d":"y"}]}"#).as_deref(),
            Some("d")
        );
        assert_eq!(dup(r#"[[{"x":{"y":1,"y":2}}]]"#).as_deref(), Some("y"));
        // Escapes are decoded before comparing: "\u0064" is "d".
        assert_eq!(dup(r#"{"d":"1","\u0064":"2"}"#).as_deref(), Some("d"));
        assert_eq!(dup(r#"{"keys":[],"keys":[]}"#).as_deref(), Some("keys"));
        assert_eq!(
            from_slice(b"{\n\"a\":1,\n\"a\":2}"),
            Err(JsonError::Duplicate {
                member: "a".into(),
                line: 3,
                column: 3
            })
        );
    }

    #[test]
    fn syntax_errors_are_not_duplicates() {
        assert_eq!(dup(r#"{"a":1,,"a":2}"#), None);
        // A name repeated before the document turns out broken is still a repeat.
        assert_eq!(dup(r#"{"a":1,"a""#).as_deref(), Some("a"));
        assert!(matches!(
            from_slice(b"{\"a\":}"),
            Err(JsonError::Syntax { line: 1, .. })
        ));
        assert!(matches!(from_slice(b"{} x"), Err(JsonError::Syntax { .. })));
        // A string value that looks like the internal marker is just a string.
        assert_eq!(dup("{\"a\":\"\\u0000duplicate member:a\"}"), None);
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            from_slice(deep.as_bytes()),
            Err(JsonError::Syntax { .. })
        ));
    }
}
