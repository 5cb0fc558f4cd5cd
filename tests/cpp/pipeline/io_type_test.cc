#include "mlcore/pipeline/io_type.h"

#include <gtest/gtest.h>

namespace mlcore::pipeline {
namespace {

TEST(ParseIoSpecTest, ReadsValueTypesAndArtifactLists) {
  IoSpec lr = *ParseIoSpec("lr", "float");
  EXPECT_EQ(lr.name, "lr");
  EXPECT_EQ(lr.type, ValueType::kFloat);
  EXPECT_FALSE(lr.list);

  IoSpec models = *ParseIoSpec("models", "List[Model]");
  EXPECT_EQ(models.type, ValueType::kModel);
  EXPECT_TRUE(models.list);

  // "list" is the JSON list parameter type, not a list of artifacts.
  IoSpec values = *ParseIoSpec("values", "list");
  EXPECT_EQ(values.type, ValueType::kList);
  EXPECT_FALSE(values.list);
}

TEST(ParseIoSpecTest, RejectsUnknownTypesInsideAndOutsideList) {
  EXPECT_EQ(ParseIoSpec("x", "Tensor").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseIoSpec("x", "List[Tensor]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseIoSpec("x", "List[]").ok());
}

}  // namespace
}  // namespace mlcore::pipeline
