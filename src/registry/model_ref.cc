#include "mlcore/registry/model_ref.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace mlcore::registry {
namespace {

constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxAliasLength = 64;
constexpr size_t kMaxVersionDigits = 18;  // anything longer overflows int64

std::string Quoted(std::string_view s) { return absl::StrCat("'", std::string(s), "'"); }

}  // namespace

std::string ModelRef::ToString() const {
  if (version) return absl::StrCat(name, "/", *version);
  if (alias) return absl::StrCat(name, "@", *alias);
  return name;
}

Status ValidateModelName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("a model name must not be empty");
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("model name ", Quoted(name.substr(0, 32)),
                                                   "... is longer than ", kMaxNameLength,
                                                   " characters"));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name ", Quoted(name), " must start with a letter or a digit"));
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '_' && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat(
          "model name ", Quoted(name), " may hold only letters, digits, '_', '-' and '.' (found '",
          absl::CEscape(std::string(1, c)), "')"));
    }
  }
  if (name.find("..") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name ", Quoted(name), " must not contain '..'"));
  }
  return absl::OkStatus();
}

Status ValidateAliasName(std::string_view alias) {
  if (alias.empty()) return absl::InvalidArgumentError("an alias must not be empty");
  if (alias.size() > kMaxAliasLength) {
    return absl::InvalidArgumentError(absl::StrCat("alias ", Quoted(alias.substr(0, 32)),
                                                   "... is longer than ", kMaxAliasLength,
                                                   " characters"));
  }
  if (!absl::ascii_islower(static_cast<unsigned char>(alias[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("alias ", Quoted(alias), " must start with a lowercase letter"));
  }
  for (char c : alias) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_islower(u) && !absl::ascii_isdigit(u) && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "alias ", Quoted(alias), " may hold only lowercase letters, digits, '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

StatusOr<ModelRef> ParseModelRef(std::string_view text) {
  auto bad = [&](const Status& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad model reference ", Quoted(text),
                     " (expected NAME, NAME/VERSION or NAME@ALIAS): ", why.message()));
  };
  ModelRef ref;
  const size_t slash = text.find('/');
  const size_t at = text.find('@');
  if (slash != std::string_view::npos && at != std::string_view::npos) {
    return bad(absl::InvalidArgumentError("give a version or an alias, not both"));
  }
  const size_t split = slash != std::string_view::npos ? slash : at;
  ref.name = std::string(text.substr(0, split));
  if (Status st = ValidateModelName(ref.name); !st.ok()) return bad(st);
  if (split == std::string_view::npos) return ref;
  const std::string_view rest = text.substr(split + 1);
  if (split == at) {
    if (Status st = ValidateAliasName(rest); !st.ok()) return bad(st);
    ref.alias = std::string(rest);
    return ref;
  }
  bool digits = !rest.empty() && rest.size() <= kMaxVersionDigits;
  for (char c : rest) digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (!digits) {
    return bad(absl::InvalidArgumentError(
        absl::StrCat("version ", Quoted(rest), " is not a positive integer")));
  }
  int64_t version = 0;
  for (char c : rest) version = version * 10 + (c - '0');
  if (version <= 0) return bad(absl::InvalidArgumentError("versions start at 1"));
  // One spelling per version, so a reference prints back as written and "m/05" cannot name
  // the same thing as "m/5" in a cache key or an alias table.
  if (rest[0] == '0') {
    return bad(absl::InvalidArgumentError(
        absl::StrCat("version ", Quoted(rest), " has a leading zero (write ", version, ")")));
  }
  ref.version = version;
  return ref;
}

}  // namespace mlcore::registry
