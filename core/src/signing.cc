#include "flatcast/signing.h"

#include "flatcast/file_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sodium.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace flatcast {

namespace {

// Key files are a few hundred bytes; anything much larger is not one.
constexpr size_t kMaxKeyFileBytes = 64 * 1024;

Status SodiumReady() {
  // sodium_init is idempotent and thread-safe; 1 means "already initialised".
  if (sodium_init() < 0) return Status::Internal("libsodium failed to initialise");
  return Status::Ok();
}

std::string ModeText(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

bool IsSigned(int field_number) {
  const auto& signed_fields = SignedDirectiveFields();
  return std::find(signed_fields.begin(), signed_fields.end(), field_number) != signed_fields.end();
}

Result<std::string> DecodeKey(std::string_view text, std::string_view what) {
  if (text.size() != kKeyZ85Chars) {
    return Status::InvalidArgument(
        fmt::format("{} must be {} Z85 characters, not {}", what, kKeyZ85Chars, text.size()));
  }
  Result<std::string> bytes = Z85Decode(text);
  if (!bytes.ok()) return bytes.status().WithContext(std::string(what));
  return bytes;
}

}  // namespace

std::string_view KeyKindName(KeyKind kind) {
  switch (kind) {
    case KeyKind::kSigning:
      return "signing";
    case KeyKind::kCurve:
      return "curve";
  }
  return "unknown";
}

std::optional<KeyKind> KeyKindFromName(std::string_view name) {
  if (name == "signing") return KeyKind::kSigning;
  if (name == "curve") return KeyKind::kCurve;
  return std::nullopt;
}

Result<std::string> Z85Encode(std::string_view bytes) {
  if (bytes.size() % 4 != 0) {
    return Status::InvalidArgument(
        fmt::format("Z85 encodes a multiple of 4 bytes, not {}", bytes.size()));
  }
  std::string out(bytes.size() / 4 * 5 + 1, '\0');
  if (zmq_z85_encode(out.data(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) ==
      nullptr) {
    return Status::Internal("zmq_z85_encode failed");
  }
  out.pop_back();
  return out;
}

Result<std::string> Z85Decode(std::string_view text) {
  // zmq_z85_decode reads a C string: an embedded NUL would cut it short.
  if (text.empty() || text.size() % 5 != 0 || text.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(fmt::format(
        "not Z85 text: the length must be a non-zero multiple of 5 (is {})", text.size()));
  }
  std::string input(text);
  std::string out(text.size() / 5 * 4, '\0');
  if (zmq_z85_decode(reinterpret_cast<uint8_t*>(out.data()), input.c_str()) == nullptr) {
    return Status::InvalidArgument("not Z85 text: a character is outside the Z85 alphabet");
  }
  return out;
}

std::string KeyId(std::string_view public_key) {
  // Only a failed sodium_init could fail here; hashing then still works, on
  // libsodium's portable implementation.
  (void)SodiumReady();
  unsigned char hash[crypto_generichash_BYTES];  // 32: BLAKE2b-256
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(public_key.data()),
                     public_key.size(), nullptr, 0);
  return ToHex(std::string_view(reinterpret_cast<const char*>(hash), kKeyIdHexChars / 2));
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();
  return out;
}

Result<KeyPair> GenerateKeyPair(KeyKind kind) {
  FLATCAST_RETURN_IF_ERROR(SodiumReady());
  KeyPair pair;
  pair.kind = kind;
  if (kind == KeyKind::kSigning) {
    pair.secret_key.resize(crypto_sign_SEEDBYTES);
    randombytes_buf(pair.secret_key.data(), pair.secret_key.size());
    return KeyPairFromSecret(kind, pair.secret_key);
  }
  char public_z85[kKeyZ85Chars + 1];
  char secret_z85[kKeyZ85Chars + 1];
  if (zmq_curve_keypair(public_z85, secret_z85) != 0) {
    return Status::Internal(fmt::format("zmq_curve_keypair: {} (is libzmq built with CURVE?)",
                                        zmq_strerror(zmq_errno())));
  }
  Result<std::string> public_key = Z85Decode(public_z85);
  Result<std::string> secret_key = Z85Decode(secret_z85);
  sodium_memzero(secret_z85, sizeof secret_z85);
  if (!public_key.ok() || !secret_key.ok()) {
    return Status::Internal("zmq_curve_keypair returned keys that are not Z85");
  }
  pair.public_key = std::move(public_key).value();
  pair.secret_key = std::move(secret_key).value();
  return pair;
}

Result<KeyPair> KeyPairFromSecret(KeyKind kind, std::string_view secret_key) {
  FLATCAST_RETURN_IF_ERROR(SodiumReady());
  if (secret_key.size() != kKeyBytes) {
    return Status::InvalidArgument(fmt::format("a {} secret key is {} bytes, not {}",
                                               KeyKindName(kind), kKeyBytes, secret_key.size()));
  }
  KeyPair pair;
  pair.kind = kind;
  pair.secret_key = std::string(secret_key);
  if (kind == KeyKind::kSigning) {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(secret_key.data()));
    sodium_memzero(sk, sizeof sk);
    pair.public_key.assign(reinterpret_cast<const char*>(pk), sizeof pk);
    return pair;
  }
  Result<std::string> secret_z85 = Z85Encode(secret_key);
  if (!secret_z85.ok()) return secret_z85.status();
  char public_z85[kKeyZ85Chars + 1];
  int rc = zmq_curve_public(public_z85, secret_z85->c_str());
  sodium_memzero(secret_z85->data(), secret_z85->size());
  if (rc != 0) {
    return Status::Internal(fmt::format("zmq_curve_public: {} (is libzmq built with CURVE?)",
                                        zmq_strerror(zmq_errno())));
  }
  Result<std::string> public_key = Z85Decode(public_z85);
  if (!public_key.ok()) return Status::Internal("zmq_curve_public returned a key that is not Z85");
  pair.public_key = std::move(public_key).value();
  return pair;
}

Result<std::string> Sign(std::string_view message, const KeyPair& key) {
  FLATCAST_RETURN_IF_ERROR(SodiumReady());
  if (key.kind != KeyKind::kSigning) {
    return Status::InvalidArgument("a curve key cannot sign; use a signing key");
  }
  if (key.secret_key.size() != crypto_sign_SEEDBYTES ||
      key.public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return Status::InvalidArgument("the signing key pair has the wrong size");
  }
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(key.secret_key.data()));
  if (sodium_memcmp(pk, key.public_key.data(), sizeof pk) != 0) {
    sodium_memzero(sk, sizeof sk);
    return Status::InvalidArgument(
        "the signing key's public and secret parts do not belong together");
  }
  std::string signature(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(), sk);
  sodium_memzero(sk, sizeof sk);
  return signature;
}

Status Verify(std::string_view message, std::string_view signature, std::string_view public_key) {
  FLATCAST_RETURN_IF_ERROR(SodiumReady());
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return Status::InvalidArgument(fmt::format("a signing public key is {} bytes, not {}",
                                               crypto_sign_PUBLICKEYBYTES, public_key.size()));
  }
  if (signature.size() != crypto_sign_BYTES) {
    return Status::InvalidArgument(
        fmt::format("a signature is {} bytes, not {}", crypto_sign_BYTES, signature.size()));
  }
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(),
                                  reinterpret_cast<const unsigned char*>(public_key.data())) != 0) {
    return Status::PermissionDenied("the signature does not verify");
  }
  return Status::Ok();
}

// ---- directive signatures ----

const std::vector<int>& SignedDirectiveFields() {
  static const std::vector<int> kFields = {
      v1::Directive::kIssuerUnitFieldNumber,  v1::Directive::kIssuerDepartmentFieldNumber,
      v1::Directive::kTitleFieldNumber,       v1::Directive::kBodyFieldNumber,
      v1::Directive::kActionsFieldNumber,     v1::Directive::kScopeFieldNumber,
      v1::Directive::kTargetTiersFieldNumber, v1::Directive::kStatusFieldNumber,
      v1::Directive::kCreatedFieldNumber,     v1::Directive::kIsPublicFieldNumber,
      v1::Directive::kExpiresFieldNumber,     v1::Directive::kInternalNoteFieldNumber,
      v1::Directive::kDeadlinesFieldNumber,   v1::Directive::kReturnFormFieldNumber,
      v1::Directive::kLanguageFieldNumber,    v1::Directive::kTranslationsFieldNumber,
      v1::Directive::kAttachmentsFieldNumber,
  };
  return kFields;
}

const std::vector<int>& UnsignedDirectiveFields() {
  // Assigned or changed by the broker after the publisher signed.
  static const std::vector<int> kFields = {
      v1::Directive::kFormatVersionFieldNumber, v1::Directive::kIdFieldNumber,
      v1::Directive::kSentFieldNumber,          v1::Directive::kVersionFieldNumber,
      v1::Directive::kMsgTypeFieldNumber,       v1::Directive::kPublicReleaseFieldNumber,
      v1::Directive::kReferencesFieldNumber,   v1::Directive::kChangesFieldNumber,
      // The signature itself.
      v1::Directive::kSignatureFieldNumber,
  };
  return kFields;
}

Result<std::string> DirectiveSigningMessage(const v1::Directive& directive) {
  v1::Directive canonical = directive;
  const google::protobuf::Descriptor* descriptor = canonical.GetDescriptor();
  const google::protobuf::Reflection* reflection = canonical.GetReflection();
  // Keeping a list rather than clearing one means a field added to the proto
  // later stays outside the signature until it is listed on purpose.
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (!IsSigned(field->number())) reflection->ClearField(&canonical, field);
  }
  canonical.DiscardUnknownFields();

  std::string serialized;
  bool written = false;
  {
    google::protobuf::io::StringOutputStream stream(&serialized);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    written = canonical.SerializeToCodedStream(&coded) && !coded.HadError();
  }
  if (!written) {
    return Status::InvalidArgument(
        fmt::format("the directive cannot be serialized ({} bytes)", canonical.ByteSizeLong()));
  }
  std::string message(kDirectiveSigningContext);
  message += serialized;
  return message;
}

Result<DirectiveSignature> SignDirective(const v1::Directive& directive, const KeyPair& key) {
  if (!directive.has_created()) {
    return Status::InvalidArgument(
        "a directive to sign needs its created time set (the broker would otherwise fill it in "
        "after signing)");
  }
  Result<std::string> message = DirectiveSigningMessage(directive);
  if (!message.ok()) return message.status();
  Result<std::string> signature = Sign(*message, key);
  if (!signature.ok()) return signature.status();
  return DirectiveSignature{KeyId(key.public_key), std::move(signature).value()};
}

Status VerifyDirective(const v1::Directive& directive, const DirectiveSignature& signature,
                       std::string_view public_key) {
  FLATCAST_RETURN_IF_ERROR(SodiumReady());
  std::string key_id = KeyId(public_key);
  if (signature.key_id != key_id) {
    return Status::PermissionDenied(fmt::format(
        "the signature names key {} but the key given is {}", signature.key_id, key_id));
  }
  Result<std::string> message = DirectiveSigningMessage(directive);
  if (!message.ok()) return message.status();
  return Verify(*message, signature.signature, public_key)
      .WithContext(fmt::format("directive {} signed by key {}",
                               directive.id().empty() ? "(no id yet)" : directive.id(), key_id));
}

// ---- key files ----

Result<std::string> FormatKeyFile(const KeyPair& key, bool with_secret) {
  if (key.public_key.size() != kKeyBytes || (with_secret && key.secret_key.size() != kKeyBytes)) {
    return Status::InvalidArgument(
        fmt::format("a {} key is {} bytes", KeyKindName(key.kind), kKeyBytes));
  }
  std::string out;
  if (with_secret) {
    out += fmt::format("# flatcast {} key pair. SECRET: keep this file owner-only (mode 0600),\n",
                       KeyKindName(key.kind));
    out += "# never commit it, never copy it off the machine that uses it.\n";
  } else {
    out += fmt::format("# flatcast {} public key. Safe to share and to register.\n",
                       KeyKindName(key.kind));
  }
  out += fmt::format("kind = \"{}\"\n", KeyKindName(key.kind));
  out += fmt::format("key_id = \"{}\"\n", KeyId(key.public_key));
  out += fmt::format("public = \"{}\"\n", Z85Encode(key.public_key).value());
  if (with_secret) out += fmt::format("secret = \"{}\"\n", Z85Encode(key.secret_key).value());
  return out;
}

Result<KeyFile> ParseKeyFile(std::string_view text, std::string_view source_name) {
  const std::string where(source_name);
  toml::table table;
  try {
    table = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(fmt::format("{}:{}:{}: {}", where, e.source().begin.line,
                                               e.source().begin.column, e.description()));
  }
  for (const auto& [key, value] : table) {
    std::string_view k = key.str();
    if (k != "kind" && k != "key_id" && k != "public" && k != "secret") {
      return Status::InvalidArgument(fmt::format("{}: unknown key \"{}\"", where, k));
    }
    if (!value.is_string()) {
      return Status::InvalidArgument(fmt::format("{}: {} must be a string", where, k));
    }
  }
  auto get = [&](const char* key) { return table[key].value<std::string>(); };
  std::optional<std::string> kind_name = get("kind");
  if (!kind_name) return Status::InvalidArgument(where + ": no kind (signing or curve)");
  std::optional<KeyKind> kind = KeyKindFromName(*kind_name);
  if (!kind) {
    return Status::InvalidArgument(
        fmt::format("{}: unknown kind \"{}\" (signing or curve)", where, *kind_name));
  }
  std::optional<std::string> public_text = get("public");
  if (!public_text) return Status::InvalidArgument(where + ": no public key");
  Result<std::string> public_key = DecodeKey(*public_text, "public");
  if (!public_key.ok()) return public_key.status().WithContext(where);

  KeyFile file;
  file.kind = *kind;
  file.public_key = std::move(public_key).value();
  FLATCAST_RETURN_IF_ERROR(SodiumReady());
  if (std::optional<std::string> key_id = get("key_id")) {
    if (*key_id != KeyId(file.public_key)) {
      return Status::InvalidArgument(
          fmt::format("{}: key_id {} does not match the public key (whose id is {})", where,
                      *key_id, KeyId(file.public_key)));
    }
  }
  if (std::optional<std::string> secret_text = get("secret")) {
    Result<std::string> secret = DecodeKey(*secret_text, "secret");
    if (!secret.ok()) return secret.status().WithContext(where);
    Result<KeyPair> pair = KeyPairFromSecret(file.kind, *secret);
    if (!pair.ok()) return pair.status().WithContext(where);
    if (pair->public_key != file.public_key) {
      return Status::InvalidArgument(where + ": the secret key does not belong to the public key");
    }
    file.secret_key = std::move(secret).value();
  }
  return file;
}

Result<std::string> ReadSmallFile(const std::string& path, mode_t* mode) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  if (static_cast<size_t>(st.st_size) > kMaxKeyFileBytes) {
    return Status::InvalidArgument(
        fmt::format("{}: {} bytes is too large for a key file", path, st.st_size));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  if (mode != nullptr) *mode = st.st_mode;
  return text;
}

Status CheckOwnerOnly(const std::string& path, mode_t mode) {
  if ((mode & (S_IRWXG | S_IRWXO)) == 0) return Status::Ok();
  return Status::PermissionDenied(fmt::format(
      "{}: this private key file is accessible to group or others (mode {}); it must be "
      "owner-only: chmod 600 {}",
      path, ModeText(mode), path));
}

Result<KeyFile> ReadKeyFile(const std::string& path) {
  mode_t mode = 0;
  Result<std::string> text = ReadSmallFile(path, &mode);
  if (!text.ok()) return text.status();
  Result<KeyFile> file = ParseKeyFile(*text, path);
  sodium_memzero(text->data(), text->size());
  if (!file.ok()) return file;
  if (file->secret_key) FLATCAST_RETURN_IF_ERROR(CheckOwnerOnly(path, mode));
  return file;
}

Result<std::string> ReadPublicKey(const std::string& path, KeyKind kind) {
  Result<KeyFile> file = ReadKeyFile(path);
  if (!file.ok()) return file.status();
  if (file->kind != kind) {
    return Status::InvalidArgument(fmt::format("{}: holds a {} key, expected a {} key", path,
                                               KeyKindName(file->kind), KeyKindName(kind)));
  }
  return file->public_key;
}

Result<KeyPair> ReadKeyPair(const std::string& path, KeyKind kind) {
  Result<KeyFile> file = ReadKeyFile(path);
  if (!file.ok()) return file.status();
  if (file->kind != kind) {
    return Status::InvalidArgument(fmt::format("{}: holds a {} key, expected a {} key", path,
                                               KeyKindName(file->kind), KeyKindName(kind)));
  }
  if (!file->secret_key) {
    return Status::InvalidArgument(
        fmt::format("{}: a public key file; the secret key file is needed here", path));
  }
  return KeyPair{file->kind, file->public_key, *file->secret_key};
}

Status WriteKeyFiles(const std::string& prefix, const KeyPair& key, bool replace) {
  const std::string public_path = prefix + ".pub";
  const std::string secret_path = prefix + ".key";
  if (!replace) {
    for (const std::string& path : {public_path, secret_path}) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) {
        return Status::AlreadyExists(path + ": exists; keys are never overwritten unless asked");
      }
    }
  }
  Result<std::string> public_text = FormatKeyFile(key, /*with_secret=*/false);
  Result<std::string> secret_text = FormatKeyFile(key, /*with_secret=*/true);
  if (!secret_text.ok()) return secret_text.status();
  Status st = WriteFileAtomically(secret_path, *secret_text, {0600, replace});
  sodium_memzero(secret_text->data(), secret_text->size());
  FLATCAST_RETURN_IF_ERROR(st);
  return WriteFileAtomically(public_path, *public_text, {0644, replace});
}

}  // namespace flatcast
