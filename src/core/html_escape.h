// One escaping rule for text placed in HTML or XML (SVG) element content and quoted attribute
// values, shared by the pipeline drawings, the HPO plots and the dashboard's pages. The five
// characters with meaning there become entities; the quote is &#x27;, as Python's html.escape
// writes it, so the C++ plots match the Python ones byte for byte.
#pragma once

#include <string>
#include <string_view>

namespace mlcore::internal {

std::string HtmlEscape(std::string_view text);

}  // namespace mlcore::internal
