//! The OpenAPI schemas of the core's request and result types.
//!
//! The core knows no OpenAPI (it depends on no HTTP crate), so the door describes its types here.
//! Each description names exactly the JSON members of the core type it documents: the tests below
//! read the members from the core type's own serde implementation and compare.

#![allow(dead_code)] // documentation only: never built, only described

use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A JWK in lists: no key material.
#[derive(ToSchema)]
#[schema(as = JwkSummary)]
#[serde(rename_all = "camelCase")]
pub struct JwkSummaryDoc {
    id: String,
    name: String,
    description: String,
    project_id: String,
    /// `URL`, `COPY_PASTE`, `CERTIFICATE`, `PUBLIC_KEY`, `PRIVATE_KEY`, `KEYSTORE` or `GENERATE`.
    source_type: String,
    /// The certificate/key/keystore it was derived from, while linked.
    source_id: Option<String>,
    source_url: Option<String>,
    /// `RSA`, `EC`, `OCT` or `OKP`.
    #[serde(rename = "type")]
    key_type: String,
    kid: Option<String>,
    /// `sig` or `enc`.
    #[serde(rename = "use")]
    key_use: Option<String>,
    alg: Option<String>,
}

/// A JWK with its material: the per-type object (`rsa`, `ec`, `okp` or `oct`) and the complete
/// RFC 7517 object in `jwk`.
#[derive(ToSchema)]
#[schema(as = JwkDetail)]
pub struct JwkDetailDoc {
    #[serde(flatten)]
    summary: JwkSummaryDoc,
    #[schema(value_type = Option<Object>)]
    rsa: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    ec: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    okp: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    oct: Option<Map<String, Value>>,
    /// The complete JWK exactly as a verifier consumes it.
    #[schema(value_type = Object)]
    jwk: Value,
}

/// A per-type sub-object of the generate request (`rsa`, `ec`, `oct`, `okp`).
#[derive(ToSchema)]
#[schema(as = GenerateParams)]
#[serde(rename_all = "camelCase")]
pub struct GenerateParamsDoc {
    /// RSA: 2048, 3072, 4096; OCT: 128, 192, 256.
    key_size: Option<i64>,
    /// EC: `P256`, `P384`, `P521`, `SECP256K1`; OKP: `ED25519`, `X25519`.
    curve_type: Option<String>,
    /// `SIGNATURE` (default; `ENCRYPTION` for X25519) or `ENCRYPTION`.
    key_use_type: Option<String>,
    /// Either spelling (`RSA256`/`RS256`, `RSA_OAEP_256`/`RSA-OAEP-256`, …); default per key.
    algorithm: Option<String>,
    /// `TIMESTAMP` (default), `SHA256`, `SHA1`, `ISO_DATE`, `NONE`, `THUMBPRINT`.
    key_id_type: Option<String>,
    /// ISO-8601 date-time; default now. Recorded as `nbf`.
    not_before_time: Option<String>,
    /// ISO-8601 date-time; default `notBeforeTime` + 1 year. Recorded as `exp`.
    expiration_time: Option<String>,
    /// Accepted for compatibility; not used (PBES2 parameters belong to each JWE header).
    password_salt_length: Option<i64>,
    /// Accepted for compatibility; not used.
    password_iteration_count: Option<i64>,
}

/// The body of `POST …/jwks/generate`.
#[derive(ToSchema)]
#[schema(as = GenerateRequest)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequestDoc {
    name: Option<String>,
    description: Option<String>,
    /// `RSA`, `EC`, `OCT` or `OKP`.
    #[serde(rename = "type")]
    key_type: Option<String>,
    /// Explicit key id (wins over `keyIdType`).
    kid: Option<String>,
    /// Also accepted here, for every type (the sub-object's value wins).
    key_id_type: Option<String>,
    not_before_time: Option<String>,
    expiration_time: Option<String>,
    rsa: Option<GenerateParamsDoc>,
    ec: Option<GenerateParamsDoc>,
    oct: Option<GenerateParamsDoc>,
    okp: Option<GenerateParamsDoc>,
    /// Extension: the environments it is deployed to (default: every environment).
    environment_list: Option<Vec<String>>,
}

/// One environment's material in a key's create/update request.
#[derive(ToSchema)]
#[schema(as = KeyEnvironmentInput)]
#[serde(rename_all = "camelCase")]
pub struct KeyEnvironmentInputDoc {
    environment_name: Option<String>,
    /// PRIVATE/PUBLIC: base64 of the PEM (raw PEM, DER and base64 DER are accepted too);
    /// SECRET_KEY: base64 of the raw key bytes.
    content: Option<String>,
    alias: Option<String>,
    /// PRIVATE_KEY only: the password of an encrypted key. The key is decrypted at import and
    /// stored unencrypted (PKCS#8); the password is not kept.
    password: Option<String>,
}

/// The body of a key's create (all required but `description`, `algorithm` for non-secret keys
/// and `alias`) and update (every field optional; omitted fields keep their value).
#[derive(ToSchema)]
#[schema(as = KeyInput)]
#[serde(rename_all = "camelCase")]
pub struct KeyInputDoc {
    name: Option<String>,
    description: Option<String>,
    /// `SECRET_KEY`, `PRIVATE_KEY` or `PUBLIC_KEY` (case-sensitive).
    key_type: Option<String>,
    /// `AES`, `DES`, `DESede` or `RSA` (case-sensitive); required for `SECRET_KEY`.
    algorithm: Option<String>,
    crypto_key_info_environment_list: Option<Vec<KeyEnvironmentInputDoc>>,
}

/// One environment's keystore in a create/update request.
#[derive(ToSchema)]
#[schema(as = KeystoreEnvironmentInput)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreEnvironmentInputDoc {
    environment_name: Option<String>,
    /// The keystore file, base64.
    file: Option<String>,
    /// The store password. Used once to open the file; never stored.
    password: Option<String>,
    /// Extension: the key password when it differs from the store password (JKS/JCEKS).
    key_password: Option<String>,
    /// The default alias; must exist in the file. Defaults to the first private-key entry.
    alias: Option<String>,
    /// `JKS` or `PKCS12`; must match the file.
    key_store_type: Option<String>,
}

/// The body of a keystore's create and update (every field optional on update).
#[derive(ToSchema)]
#[schema(as = KeystoreInput)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreInputDoc {
    name: Option<String>,
    description: Option<String>,
    key_store_environment_list: Option<Vec<KeystoreEnvironmentInputDoc>>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::{self, Deserialize, Deserializer, Visitor};
    use utoipa::PartialSchema;
    use utoipa::openapi::{RefOr, Schema};

    /// The member names a `#[derive(Deserialize)]` struct asks for (its `deserialize_struct`
    /// call carries them), read without any input.
    fn members_of<'de, T: Deserialize<'de>>() -> BTreeSet<String> {
        struct Fields(std::cell::RefCell<Vec<&'static str>>);
        #[derive(Debug)]
        struct Stop;
        impl std::fmt::Display for Stop {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("stop")
            }
        }
        impl std::error::Error for Stop {}
        impl de::Error for Stop {
            fn custom<M: std::fmt::Display>(_: M) -> Stop {
                Stop
            }
        }
        impl<'de> Deserializer<'de> for &Fields {
            type Error = Stop;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
                Err(Stop)
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Stop> {
                self.0.borrow_mut().extend(fields);
                Err(Stop)
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let fields = Fields(Default::default());
        let _ = T::deserialize(&fields);
        fields
            .0
            .into_inner()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        fn collect(schema: &RefOr<Schema>, into: &mut BTreeSet<String>) {
            match schema {
                RefOr::T(Schema::Object(o)) => into.extend(o.properties.keys().cloned()),
                RefOr::T(Schema::AllOf(all)) => {
                    all.items.iter().for_each(|s| collect(s, into));
                }
                // A flattened member: the one schema flattened here.
                RefOr::Ref(r) if r.ref_location.ends_with("/JwkSummary") => {
                    collect(&super::JwkSummaryDoc::schema(), into)
                }
                _ => panic!("not an object schema"),
            }
        }
        let mut names = BTreeSet::new();
        collect(&T::schema(), &mut names);
        names
    }

    fn keys(v: serde_json::Value) -> BTreeSet<String> {
        v.as_object().expect("an object").keys().cloned().collect()
    }

    #[test]
    fn request_schemas_name_exactly_the_members_the_core_reads() {
        use keyward_core::{jwk_sources, keys, keystores};
        assert_eq!(
            properties::<super::GenerateRequestDoc>(),
            members_of::<jwk_sources::GenerateRequest>()
        );
        assert_eq!(
            properties::<super::GenerateParamsDoc>(),
            members_of::<jwk_sources::GenerateParams>()
        );
        assert_eq!(
            properties::<super::KeyInputDoc>(),
            members_of::<keys::KeyInput>()
        );
        assert_eq!(
            properties::<super::KeyEnvironmentInputDoc>(),
            members_of::<keys::KeyEnvironmentInput>()
        );
        assert_eq!(
            properties::<super::KeystoreInputDoc>(),
            members_of::<keystores::KeystoreInput>()
        );
        assert_eq!(
            properties::<super::KeystoreEnvironmentInputDoc>(),
            members_of::<keystores::KeystoreEnvironmentInput>()
        );
    }

    #[test]
    fn result_schemas_name_exactly_the_members_the_core_writes() {
        use keyward_core::jwks::{JwkDetail, JwkSummary};
        let summary = || JwkSummary {
            id: String::new(),
            name: String::new(),
            description: String::new(),
            project_id: String::new(),
            source_type: String::new(),
            source_id: None,
            source_url: None,
            key_type: String::new(),
            kid: None,
            key_use: None,
            alg: None,
        };
        assert_eq!(
            properties::<super::JwkSummaryDoc>(),
            keys(serde_json::to_value(summary()).unwrap())
        );
        let some = || Some(serde_json::Map::new());
        let detail = JwkDetail {
            summary: summary(),
            rsa: some(),
            ec: some(),
            okp: some(),
            oct: some(),
            jwk: serde_json::Value::Null,
        };
        assert_eq!(
            properties::<super::JwkDetailDoc>(),
            keys(serde_json::to_value(detail).unwrap())
        );
    }
}
