//! Errors of the crate.
//!
//! Every `Display` text is a complete sentence that can be shown to an API user as it is, in the
//! Apinizer message style: it names the field or the input at fault and, where there is a closed
//! set, the accepted values (`... ! Accepted values: A, B`). No message ever contains key
//! material or the raw input.

/// The most certificates [`crate::x509::parse_certificates`] accepts in one input.
pub const MAX_CERTIFICATES: usize = 16;

/// Everything that can go wrong while reading certificates and keys or building a JWK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input holds nothing but whitespace.
    #[error("pemEncodedFile value can not be empty!")]
    Empty,

    /// A value that must be base64 / base64url is not.
    #[error("{what} is not valid {alphabet}!")]
    Base64 {
        /// Which value (a field name or a short description).
        what: String,
        /// `base64` or `base64url`.
        alphabet: &'static str,
    },

    /// A PEM block whose body is not valid base64.
    #[error("The PEM block \"{label}\" does not contain valid base64 content!")]
    PemBadBase64 {
        /// The label of the block (`CERTIFICATE`, `PRIVATE KEY`, ...).
        label: String,
    },

    /// A PEM block carrying RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED`.
    #[error(
        "The PEM block \"{label}\" carries headers (such as Proc-Type or DEK-Info), which are not supported!"
    )]
    PemHeaders {
        /// The label of the block.
        label: String,
    },

    /// A `-----BEGIN X-----` line without its `-----END X-----` line.
    #[error("The PEM block \"{label}\" has a BEGIN line but no matching END line!")]
    PemMissingEnd {
        /// The label of the block.
        label: String,
    },

    /// A BEGIN line that cannot be read (no closing dashes, empty label, ...).
    #[error("The PEM input has a malformed BEGIN line!")]
    PemMalformed,

    /// A PEM block without any content.
    #[error("The PEM block \"{label}\" is empty!")]
    PemEmptyBlock {
        /// The label of the block.
        label: String,
    },

    /// A PEM input that holds something else than certificates.
    #[error(
        "pemEncodedFile must contain only certificates (-----BEGIN CERTIFICATE-----), but a \"{label}\" block was found!"
    )]
    NotOnlyCertificates {
        /// The label that was found.
        label: String,
    },

    /// The input is not a certificate (or not in a recognised encoding).
    #[error("pemEncodedFile does not contain a valid X.509 certificate: {detail}")]
    InvalidCertificate {
        /// What is wrong, in words.
        detail: String,
    },

    /// More than [`MAX_CERTIFICATES`] certificates in one input.
    #[error(
        "pemEncodedFile contains more than {max} certificates! Upload at most {max} certificates at once."
    )]
    TooManyCertificates {
        /// The cap.
        max: usize,
    },

    /// A JWK was asked for with no certificate at all.
    #[error("The certificate chain is empty: at least one certificate is needed!")]
    EmptyChain,

    /// The certificates do not form one linear chain.
    #[error("The certificates do not form a single certificate chain: {reason}")]
    Chain {
        /// What is wrong, in words, naming the certificates by subject.
        reason: String,
    },

    /// The SubjectPublicKeyInfo names an algorithm that is not supported.
    #[error(
        "The public key algorithm {algorithm} is not supported! Accepted values: RSA, EC (P-256, P-384, P-521, secp256k1), Ed25519, Ed448, X25519, X448"
    )]
    UnsupportedKeyAlgorithm {
        /// A name and the OID, e.g. `DSA (OID 1.2.840.10040.4.1)`.
        algorithm: String,
    },

    /// An EC key on a curve that is not supported.
    #[error(
        "The elliptic curve {curve} is not supported! Accepted values: P-256, P-384, P-521, secp256k1"
    )]
    UnsupportedCurve {
        /// The curve OID, dotted, or a description.
        curve: String,
    },

    /// An RSA modulus outside the accepted range.
    #[error("The RSA key size ({bits} bits) is not supported! Accepted values: 1024 to 16384 bits")]
    RsaKeySize {
        /// The modulus size in bits.
        bits: usize,
    },

    /// A public key that is structurally wrong (bad DER, point not on the curve, ...).
    #[error("The public key is not valid: {detail}")]
    InvalidPublicKey {
        /// What is wrong, in words.
        detail: String,
    },

    /// A JWK that lacks a member needed for the operation.
    #[error("The JWK has no \"{member}\" member, which is required for key type {kty}!")]
    MissingMember {
        /// The `kty` of the JWK.
        kty: String,
        /// The missing member.
        member: &'static str,
    },

    /// A JWK whose `kty` is not known.
    #[error("The JWK key type ({kty}) is not valid! Accepted values: RSA, EC, oct, OKP")]
    UnknownKeyType {
        /// The `kty` that was found.
        kty: String,
    },

    /// The algorithm or use is not valid for the key.
    #[error(transparent)]
    Algorithm(#[from] AlgorithmError),

    /// A key input (private key, public key, certificate) holding nothing but whitespace.
    #[error("The key content is empty: a PEM key, a DER key or its base64 is needed!")]
    KeyEmpty,

    /// A key input that is not a key in any supported format.
    #[error("The key content is not a supported key: {detail}")]
    NotAKey {
        /// What is wrong, in words.
        detail: String,
    },

    /// A PEM block whose label is not one of the key labels.
    #[error(
        "The PEM block \"{label}\" is not supported for keys! Accepted values: PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY, PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE"
    )]
    UnsupportedKeyLabel {
        /// The label that was found.
        label: String,
    },

    /// More than one private key (or, without a private key, more than one public key) in one
    /// input.
    #[error("The key content holds {count} {what}: upload exactly one key!")]
    SeveralKeys {
        /// How many.
        count: usize,
        /// `private keys` or `public keys`.
        what: &'static str,
    },

    /// An encrypted key was given without a password.
    #[error("password value can not be empty! The private key is encrypted.")]
    PasswordRequired,

    /// The password does not decrypt the key (bad padding, or the plaintext is not a key).
    #[error("The password is wrong: the encrypted private key could not be decrypted with it!")]
    WrongPassword,

    /// The key is encrypted with an algorithm that is not supported.
    #[error(
        "The private key encryption {algorithm} is not supported! Accepted values: PBES2 (PBKDF2 or scrypt, with AES-CBC or DES-EDE3-CBC), pbeWithSHAAnd3-KeyTripleDES-CBC, and OpenSSL legacy PEM encryption (AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC)"
    )]
    UnsupportedKeyEncryption {
        /// A name and/or the OID.
        algorithm: String,
    },

    /// Key-derivation parameters above the accepted work limit.
    #[error(
        "The encrypted private key asks for {what} {value}, more than the accepted maximum of {max}! Re-encrypt it with cheaper parameters."
    )]
    KdfTooExpensive {
        /// `PBKDF2 iterations`, `scrypt N`, ...
        what: &'static str,
        /// The value in the file.
        value: u64,
        /// The cap.
        max: u64,
    },

    /// A private key that is structurally wrong or inconsistent.
    #[error("The private key is not valid: {detail}")]
    InvalidPrivateKey {
        /// What is wrong, in words (never key material).
        detail: String,
    },

    /// A JWK (or JWK Set) document that cannot be used.
    #[error("The JWK is not valid: {detail}")]
    InvalidJwk {
        /// What is wrong, in words, naming the member at fault.
        detail: String,
    },

    /// A JWK Set holding several keys, and no `kid` to choose one.
    #[error("kid value can not be empty! The JWK Set holds {count} keys.")]
    KidRequired {
        /// Number of keys in the set.
        count: usize,
    },

    /// No key of the JWK Set has the requested `kid`.
    #[error("No key with kid ({kid}) in the JWK Set!")]
    KidNotFound {
        /// The kid asked for.
        kid: String,
    },

    /// Several keys of the JWK Set have the requested `kid`.
    #[error("More than one key with kid ({kid}) in the JWK Set! {count} keys carry it.")]
    KidAmbiguous {
        /// The kid asked for.
        kid: String,
        /// How many keys carry it.
        count: usize,
    },

    /// Key generation was asked for with parameters outside the accepted values.
    #[error("{field} ({given}) is not valid! Accepted values: {accepted}")]
    InvalidGenerateParameter {
        /// The API field, e.g. `keySize`.
        field: &'static str,
        /// The value given.
        given: String,
        /// The accepted values, comma separated.
        accepted: &'static str,
    },

    /// Key generation failed inside the crypto library (RNG failure and the like).
    #[error("The key could not be generated: {detail}")]
    Generate {
        /// What failed, in words.
        detail: String,
    },
}

/// Errors of algorithm and use validation (see [`crate::alg`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlgorithmError {
    /// `algorithm` is empty.
    #[error("algorithm value can not be empty!")]
    Empty,

    /// `algorithm` holds a key type (`RSA`, `EC`, ...) instead of an algorithm.
    #[error(
        "algorithm value must be a JOSE algorithm name such as RS256 or ES256, not a key type ({given})!"
    )]
    KeyTypeGiven {
        /// The value given.
        given: String,
    },

    /// `algorithm` is not an algorithm name in either spelling.
    #[error("algorithm ({given}) is not a known algorithm! Accepted values: {accepted}")]
    Unknown {
        /// The value given.
        given: String,
        /// Every JOSE algorithm name, comma separated.
        accepted: String,
    },

    /// `useType` is empty.
    #[error("useType value can not be empty!")]
    EmptyUse,

    /// `useType` is not `SIGNATURE` or `ENCRYPTION`.
    #[error("useType ({given}) is not valid! Accepted values: SIGNATURE, ENCRYPTION")]
    UnknownUse {
        /// The value given.
        given: String,
    },

    /// The algorithm is not valid for this key and use.
    #[error(
        "algorithm ({algorithm}) is not valid for {key} with useType {key_use}! Accepted values: {accepted}"
    )]
    NotValidForKey {
        /// JOSE name of the algorithm given.
        algorithm: &'static str,
        /// The key, in words: `an EC key on curve P-384`.
        key: String,
        /// `SIGNATURE` or `ENCRYPTION`.
        key_use: &'static str,
        /// The JOSE names that would be accepted, comma separated.
        accepted: String,
    },

    /// The key cannot be used for this use at all (Ed25519 for encryption, X25519 for signature).
    #[error("useType {key_use} is not valid for {key}! Accepted values: {accepted_use}")]
    UseNotSupported {
        /// The key, in words.
        key: String,
        /// `SIGNATURE` or `ENCRYPTION`.
        key_use: &'static str,
        /// The use the key does support.
        accepted_use: &'static str,
    },
}
