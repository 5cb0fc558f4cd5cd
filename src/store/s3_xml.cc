#include "store/s3_xml.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace mlcore::store::internal {
namespace {

using ::mlcore::internal::AV;

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == ':' || static_cast<unsigned char>(c) >= 0x80;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  StatusOr<XmlElement> Document() {
    MLCORE_RETURN_IF_ERROR(SkipProlog());
    if (!At("<")) return Fail("no root element");
    MLCORE_ASSIGN_OR_RETURN(XmlElement root, Element(1));
    MLCORE_RETURN_IF_ERROR(SkipProlog());
    if (pos_ != doc_.size()) return Fail("content after the root element");
    return root;
  }

 private:
  Status Fail(std::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat("malformed XML at byte ", pos_, ": ", AV(why)));
  }
  bool At(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }
  void SkipSpace() {
    while (pos_ < doc_.size() && absl::ascii_isspace(static_cast<unsigned char>(doc_[pos_]))) {
      ++pos_;
    }
  }
  // Moves past the next `end`; false when there is none.
  bool SkipPast(std::string_view end) {
    size_t at = doc_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }

  // Whitespace, declarations and comments around the root.
  Status SkipProlog() {
    for (;;) {
      SkipSpace();
      if (At("<?")) {
        if (!SkipPast("?>")) return Fail("unterminated processing instruction");
      } else if (At("<!--")) {
        if (!SkipPast("-->")) return Fail("unterminated comment");
      } else if (At("<!")) {
        // A DOCTYPE could declare entities; S3 never sends one, so none is accepted.
        return Fail("DOCTYPE and other declarations are not accepted");
      } else {
        return absl::OkStatus();
      }
    }
  }

  StatusOr<std::string> Name() {
    const size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    if (pos_ == start) return Fail("expected a name");
    return std::string(doc_.substr(start, pos_ - start));
  }

  Status Attributes(bool* empty) {
    for (;;) {
      SkipSpace();
      if (At("/>")) {
        pos_ += 2;
        *empty = true;
        return absl::OkStatus();
      }
      if (At(">")) {
        ++pos_;
        *empty = false;
        return absl::OkStatus();
      }
      MLCORE_RETURN_IF_ERROR(Name().status());
      SkipSpace();
      if (!At("=")) return Fail("expected '=' after an attribute name");
      ++pos_;
      SkipSpace();
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
        return Fail("expected a quoted attribute value");
      }
      const char quote = doc_[pos_++];
      size_t end = doc_.find(quote, pos_);
      if (end == std::string_view::npos) return Fail("unterminated attribute value");
      pos_ = end + 1;
    }
  }

  Status Entity(std::string* out) {
    size_t end = doc_.find(';', pos_);
    if (end == std::string_view::npos || end - pos_ > 12) return Fail("unterminated entity");
    std::string_view name = doc_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    if (name == "lt") return out->push_back('<'), absl::OkStatus();
    if (name == "gt") return out->push_back('>'), absl::OkStatus();
    if (name == "amp") return out->push_back('&'), absl::OkStatus();
    if (name == "quot") return out->push_back('"'), absl::OkStatus();
    if (name == "apos") return out->push_back('\''), absl::OkStatus();
    uint32_t cp = 0;
    bool ok = false;
    if (name.size() > 2 && name[0] == '#' && (name[1] == 'x' || name[1] == 'X')) {
      ok = absl::SimpleHexAtoi(absl::string_view(name.data() + 2, name.size() - 2), &cp);
    } else if (name.size() > 1 && name[0] == '#') {
      ok = absl::SimpleAtoi(absl::string_view(name.data() + 1, name.size() - 1), &cp);
    }
    if (!ok || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return Fail(absl::StrCat("unknown entity &", std::string(name), ";"));
    }
    AppendUtf8(cp, out);
    return absl::OkStatus();
  }

  StatusOr<XmlElement> Element(int depth) {
    if (depth > kMaxXmlDepth) return Fail("elements nested too deeply");
    ++pos_;  // '<'
    XmlElement element;
    MLCORE_ASSIGN_OR_RETURN(std::string qualified, Name());
    size_t colon = qualified.rfind(':');
    element.name = colon == std::string::npos ? qualified : qualified.substr(colon + 1);
    if (element.name.empty()) {
      return Fail(
          absl::StrCat("element <", qualified, "> has a namespace prefix but no local name"));
    }
    bool empty = false;
    MLCORE_RETURN_IF_ERROR(Attributes(&empty));
    if (empty) return element;
    for (;;) {
      if (pos_ >= doc_.size()) return Fail(absl::StrCat("<", qualified, "> is not closed"));
      if (At("</")) {
        pos_ += 2;
        MLCORE_ASSIGN_OR_RETURN(std::string closing, Name());
        if (closing != qualified) {
          return Fail(absl::StrCat("</", closing, "> closes <", qualified, ">"));
        }
        SkipSpace();
        if (!At(">")) return Fail("expected '>'");
        ++pos_;
        return element;
      }
      if (At("<!--")) {
        if (!SkipPast("-->")) return Fail("unterminated comment");
      } else if (At("<![CDATA[")) {
        const size_t start = pos_ + 9;
        if (!SkipPast("]]>")) return Fail("unterminated CDATA section");
        element.text.append(doc_.substr(start, pos_ - 3 - start));
      } else if (At("<?")) {
        if (!SkipPast("?>")) return Fail("unterminated processing instruction");
      } else if (At("<")) {
        MLCORE_ASSIGN_OR_RETURN(XmlElement child, Element(depth + 1));
        element.children.push_back(std::move(child));
      } else if (At("&")) {
        MLCORE_RETURN_IF_ERROR(Entity(&element.text));
      } else {
        element.text.push_back(doc_[pos_++]);
      }
    }
  }

  std::string_view doc_;
  size_t pos_ = 0;
};

std::string Unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::string XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c == nullptr ? "" : c->text;
}

StatusOr<XmlElement> ParseXml(std::string_view document) { return Parser(document).Document(); }

StatusOr<S3ListPage> ParseListObjectsV2(std::string_view document) {
  MLCORE_ASSIGN_OR_RETURN(XmlElement root, ParseXml(document));
  if (root.name != "ListBucketResult") {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a ListBucketResult document, got <", root.name, ">"));
  }
  S3ListPage page;
  for (const XmlElement& c : root.children) {
    if (c.name != "Contents") continue;
    S3ListedObject object;
    object.key = c.ChildText("Key");
    const std::string size = std::string(absl::StripAsciiWhitespace(c.ChildText("Size")));
    if (!absl::SimpleAtoi(size, &object.size) || object.size < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("listing: object '", object.key, "' has size '", size, "'"));
    }
    object.etag = Unquote(c.ChildText("ETag"));
    page.objects.push_back(std::move(object));
  }
  page.truncated = absl::StripAsciiWhitespace(root.ChildText("IsTruncated")) == "true";
  page.next_token = root.ChildText("NextContinuationToken");
  if (page.truncated && page.next_token.empty()) {
    return absl::InvalidArgumentError("listing: a truncated page has no NextContinuationToken");
  }
  return page;
}

S3ErrorDocument ParseS3Error(std::string_view document) {
  StatusOr<XmlElement> root = ParseXml(document);
  if (!root.ok() || root->name != "Error") return {};
  return {root->ChildText("Code"), root->ChildText("Message")};
}

StatusOr<std::string> ParseUploadId(std::string_view document) {
  MLCORE_ASSIGN_OR_RETURN(XmlElement root, ParseXml(document));
  std::string id = root.ChildText("UploadId");
  if (root.name != "InitiateMultipartUploadResult" || id.empty()) {
    return absl::InvalidArgumentError("expected an InitiateMultipartUploadResult with an UploadId");
  }
  return id;
}

}  // namespace mlcore::store::internal
