// Keys and signatures: Ed25519 signing keys (libsodium) and ZeroMQ CURVE keys,
// their key ids and text files, and the signature of a directive over its
// canonical encoding (docs/SECURITY.md, "Directive signatures").
//
// Every function returns a Status or Result; none throws. libsodium is
// initialised on first use; all functions are safe to call from any thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace flatcast {

// Raw sizes: an Ed25519 public key and seed, a CURVE (X25519) public and
// secret key are 32 bytes each; a Z85 text form of 32 bytes is 40 characters.
inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kKeyZ85Chars = 40;
inline constexpr size_t kSignatureBytes = 64;
// A key id is 8 bytes, printed as 16 lowercase hex digits.
inline constexpr size_t kKeyIdHexChars = 16;

// The two kinds of key pair. kSigning: Ed25519, signs directives. kCurve:
// X25519 for ZeroMQ CURVE, authenticates and encrypts connections.
enum class KeyKind { kSigning, kCurve };

// "signing", "curve".
std::string_view KeyKindName(KeyKind kind);
std::optional<KeyKind> KeyKindFromName(std::string_view name);

// A key pair in raw bytes. For kSigning, `secret_key` is the 32-byte Ed25519
// seed (the 64-byte libsodium secret key is derived from it when signing); for
// kCurve, the 32-byte CURVE secret key.
struct KeyPair {
  KeyKind kind = KeyKind::kSigning;
  std::string public_key;  // kKeyBytes
  std::string secret_key;  // kKeyBytes
};

// A fresh key pair from the operating system's random source. kCurve uses
// zmq_curve_keypair; fails with Internal if libzmq was built without CURVE.
Result<KeyPair> GenerateKeyPair(KeyKind kind);

// The key pair whose secret is `secret_key` (kKeyBytes raw bytes).
Result<KeyPair> KeyPairFromSecret(KeyKind kind, std::string_view secret_key);

// Z85 (ZeroMQ RFC 32/Z85), the text form of every key in flatcast's files.
// Encode takes a multiple of 4 bytes; Decode refuses text whose length is not
// a multiple of 5 or that holds a character outside the Z85 alphabet.
Result<std::string> Z85Encode(std::string_view bytes);
Result<std::string> Z85Decode(std::string_view text);

// The id of a public key (either kind): the first 8 bytes of BLAKE2b-256
// (libsodium crypto_generichash, no key) of the 32 raw public key bytes, as 16
// lowercase hex digits.
std::string KeyId(std::string_view public_key);

// Lowercase hex of `bytes`, for printing signatures.
std::string ToHex(std::string_view bytes);

// An Ed25519 detached signature (kSignatureBytes) of `message` by `key`
// (a kSigning pair).
Result<std::string> Sign(std::string_view message, const KeyPair& key);

// Ok when `signature` is a valid Ed25519 signature of `message` by
// `public_key`; otherwise PermissionDenied (the signature does not verify) or
// InvalidArgument (wrong sizes).
Status Verify(std::string_view message, std::string_view signature, std::string_view public_key);

// ---- directive signatures ----
//
// The canonical encoding of a directive, which its publisher signs and anyone
// verifies later (docs/SECURITY.md):
//
//   kDirectiveSigningContext || deterministic protobuf serialization of the
//   directive with only the signed fields kept
//
// Signed fields (the content a publisher writes): issuer_unit,
// issuer_department, title, body, actions (every field of each item), scope,
// target_tiers, status, created, is_public, expires, internal_note,
// deadlines.
// Every other field is cleared before serializing: the ones the broker assigns
// or changes after submission (format_version, id, sent, version, msg_type,
// public_release, references) and any field added to flatcast.proto later.
// Unknown fields are dropped. Serialization uses
// io::CodedOutputStream::SetSerializationDeterministic, so the same field
// values always give the same bytes, whichever process parsed them from
// whichever wire or JSON form.
inline constexpr std::string_view kDirectiveSigningContext = "flatcast.v1.Directive.signed\n";

// Field numbers of flatcast.v1.Directive covered by the signature, and those
// deliberately left out; every field of Directive is in exactly one list.
const std::vector<int>& SignedDirectiveFields();
const std::vector<int>& UnsignedDirectiveFields();

// The bytes a directive's signature covers. Fails only for a directive too
// large for protobuf to serialize (2 GiB).
Result<std::string> DirectiveSigningMessage(const v1::Directive& directive);

// A directive's signature as it is stored with the directive.
struct DirectiveSignature {
  std::string key_id;     // KeyId of the signing public key
  std::string signature;  // kSignatureBytes, raw
};

// Signs a directive as its publisher submits it. Refuses one without
// `created` (InvalidArgument): the broker fills a missing created time, which
// would change the signed content after signing.
Result<DirectiveSignature> SignDirective(const v1::Directive& directive, const KeyPair& key);

// Ok when `signature` was made over `directive`'s canonical encoding by the
// holder of `public_key`. PermissionDenied when the key id does not match the
// key or the signature does not verify; the message says which.
Status VerifyDirective(const v1::Directive& directive, const DirectiveSignature& signature,
                       std::string_view public_key);

// ---- key files ----
//
// A key file is TOML text (docs/SECURITY.md, "Key files"):
//
//   kind = "signing"            # or "curve"
//   key_id = "<16 hex digits>"  # KeyId of the public key; checked when read
//   public = "<40 Z85 chars>"
//   secret = "<40 Z85 chars>"   # only in a secret key file
//
// Comment lines may precede them. A secret key file is written with mode 0600;
// one that group or others may access is refused when read. A public key file
// is written with mode 0644.

struct KeyFile {
  KeyKind kind = KeyKind::kSigning;
  std::string public_key;                 // raw
  std::optional<std::string> secret_key;  // raw; set in a secret key file
};

// The text of a key file: with the secret when `with_secret`, else public only.
// InvalidArgument when a key is not kKeyBytes long.
Result<std::string> FormatKeyFile(const KeyPair& key, bool with_secret);

// Parses key file text; `source_name` prefixes error messages. Refuses
// unknown keys, a missing kind or public key, keys of the wrong size, a key id
// that does not match the public key, and a secret that does not belong to
// the public key.
Result<KeyFile> ParseKeyFile(std::string_view text, std::string_view source_name);

// Reads and parses a key file. A file holding a secret must not be accessible
// to group or others (PermissionDenied, naming the mode and the chmod to run).
Result<KeyFile> ReadKeyFile(const std::string& path);

// Reads a file of at most 64 KiB (a key or seed file) and its mode.
Result<std::string> ReadSmallFile(const std::string& path, mode_t* mode);

// PermissionDenied, naming the mode and the chmod to run, when `mode` gives
// group or others any access to the private key file `path`.
Status CheckOwnerOnly(const std::string& path, mode_t mode);

// A public key of `kind` from a key file (public or secret); InvalidArgument
// when the file holds the other kind.
Result<std::string> ReadPublicKey(const std::string& path, KeyKind kind);

// A key pair of `kind` from a secret key file.
Result<KeyPair> ReadKeyPair(const std::string& path, KeyKind kind);

// Writes `<prefix>.pub` (0644) and `<prefix>.key` (0600) for `key`. Each file
// is written atomically. Existing files are refused (AlreadyExists) unless
// `replace`.
Status WriteKeyFiles(const std::string& prefix, const KeyPair& key, bool replace);

}  // namespace flatcast
