// The XML S3 servers answer with (listings, errors, multipart upload ids): bytes from the network.
// Every reader must return a status, never crash, and a parsed listing must be self-consistent.
#include <string_view>

#include "../src/store/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view doc(reinterpret_cast<const char*>(data), size);
  auto tree = mlcore::store::internal::ParseXml(doc);
  if (tree.ok() && tree->name.empty()) __builtin_trap();  // an element always has a name
  auto page = mlcore::store::internal::ParseListObjectsV2(doc);
  if (page.ok()) {
    for (const auto& object : page->objects) {
      if (object.size < 0) __builtin_trap();
    }
    if (page->truncated && page->next_token.empty()) __builtin_trap();
  }
  (void)mlcore::store::internal::ParseS3Error(doc);
  (void)mlcore::store::internal::ParseUploadId(doc);
  return 0;
}
