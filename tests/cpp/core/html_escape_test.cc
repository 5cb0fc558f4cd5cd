// The one escaping rule of the SVG drawings, the HPO plots and the dashboard's pages.
#include "core/html_escape.h"

#include <gtest/gtest.h>

namespace mlcore::internal {
namespace {

TEST(HtmlEscapeTest, EscapesTheFiveMarkupCharacters) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x">Tom & Jerry's</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/a&gt;");
}

TEST(HtmlEscapeTest, LeavesOtherTextAlone) {
  EXPECT_EQ(HtmlEscape(""), "");
  EXPECT_EQ(HtmlEscape("loss 0.5 \xc3\xa9t\xc3\xa9 / {x}"), "loss 0.5 \xc3\xa9t\xc3\xa9 / {x}");
  // An entity already in the text is escaped again: the input is text, not markup.
  EXPECT_EQ(HtmlEscape("&amp;"), "&amp;amp;");
}

}  // namespace
}  // namespace mlcore::internal
