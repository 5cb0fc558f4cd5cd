// The dashboard's pages (python/mlcore/ui/static/), built into the library by cmake/ui.cmake so
// any mlcore server serves the same bytes with no install-relative path to find.
#pragma once

#include <cstddef>

namespace mlcore::ui::internal {

struct Asset {
  const char* name;  // "index.html", "app.js"...
  const unsigned char* data;
  size_t size;
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

}  // namespace mlcore::ui::internal
