// The XML S3 answers with (listings, errors, multipart upload ids), read by a small parser: no
// XML library is in the dependency set, and S3's documents are plain trees of elements and
// text. Bytes from the network are untrusted: the parser is fuzzed (fuzz/s3_xml_fuzzer.cc),
// bounds its nesting, and fails with InvalidArgument rather than guessing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore::store::internal {

// An element: its local name (namespace prefix dropped), its own text (entities and CDATA
// decoded; its children's text stays with them) and its child elements. Attributes are read and
// dropped: S3 puts nothing in them that mlcore needs.
struct XmlElement {
  std::string name;
  std::string text;
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* Child(std::string_view name) const;
  // The first such child's text, or "" when there is none.
  std::string ChildText(std::string_view name) const;
};

// Nesting deeper than this is refused (S3's documents are three levels deep).
inline constexpr int kMaxXmlDepth = 32;

// The document's root element. InvalidArgument naming the byte offset for anything malformed:
// unbalanced or mismatched tags, an unknown entity, a DOCTYPE, nesting beyond kMaxXmlDepth,
// or content after the root.
StatusOr<XmlElement> ParseXml(std::string_view document);

// One object of a listing.
struct S3ListedObject {
  std::string key;
  int64_t size = 0;
  std::string etag;  // without its quotes
};

// One page of ListObjectsV2: the objects, and the token for the next page when truncated.
struct S3ListPage {
  std::vector<S3ListedObject> objects;
  bool truncated = false;
  std::string next_token;
};

// A ListBucketResult document. InvalidArgument when it is not one (or a Size is not a number,
// or a truncated page has no NextContinuationToken).
StatusOr<S3ListPage> ParseListObjectsV2(std::string_view document);

// The Code and Message of an <Error> document; both empty when `document` is not one (an HTML
// error page from a proxy, an empty body).
struct S3ErrorDocument {
  std::string code;
  std::string message;
};
S3ErrorDocument ParseS3Error(std::string_view document);

// The UploadId of an InitiateMultipartUploadResult document.
StatusOr<std::string> ParseUploadId(std::string_view document);

}  // namespace mlcore::store::internal
