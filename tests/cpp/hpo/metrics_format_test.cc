#include <gtest/gtest.h>

#include "mlcore/hpo/command_objective.h"

namespace mlcore::hpo {
namespace {

TEST(ParseMetricsFormatTest, NamesTheTwoFormats) {
  EXPECT_EQ(*ParseMetricsFormat("text"), MetricsFormat::kText);
  EXPECT_EQ(*ParseMetricsFormat("json"), MetricsFormat::kJsonLines);
  for (MetricsFormat f : {MetricsFormat::kText, MetricsFormat::kJsonLines}) {
    EXPECT_EQ(*ParseMetricsFormat(MetricsFormatName(f)), f);
  }
  Status bad = ParseMetricsFormat("yaml").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "format must be 'text' or 'json', not 'yaml'");
}

}  // namespace
}  // namespace mlcore::hpo
