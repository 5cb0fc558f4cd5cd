// ParseScalarEvents on files nn::SummaryWriter wrote: every scalar back, a record cut short is
// left for the next read, damage is DataLoss.
#include "mlcore/ui/event_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "mlcore/nn/tensorboard.h"
#include "pipeline/pipeline_test_util.h"

namespace mlcore::ui {
namespace {

std::string WriteEvents(const std::string& dir) {
  auto w = nn::SummaryWriter::Open(dir);
  EXPECT_TRUE(w.ok());
  for (int step = 0; step < 4; ++step) EXPECT_TRUE((*w)->AddScalar("loss", 0.5 * step, step).ok());
  EXPECT_TRUE((*w)->Flush().ok());
  return pipeline::testing::ReadAll((*w)->path());
}

TEST(EventReader, ReadsWhatSummaryWriterWrote) {
  pipeline::testing::ScratchHome home;
  std::string bytes = WriteEvents(home.path() + "/logs");
  size_t consumed = 0;
  auto events = ParseScalarEvents(bytes, &consumed);
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(consumed, bytes.size());
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[3].tag, "loss");
  EXPECT_EQ((*events)[3].step, 3);
  EXPECT_DOUBLE_EQ((*events)[3].value, 1.5);
  EXPECT_GT((*events)[3].wall_time, 1e9);
}

TEST(EventReader, PartialRecordWaitsAndDamageIsDataLoss) {
  pipeline::testing::ScratchHome home;
  std::string bytes = WriteEvents(home.path() + "/logs");
  size_t consumed = 0;
  auto part = ParseScalarEvents(bytes.substr(0, bytes.size() - 3), &consumed);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->size(), 3u);
  EXPECT_LT(consumed, bytes.size());
  auto rest = ParseScalarEvents(bytes.substr(consumed), &consumed);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), 1u);

  std::string damaged = bytes;
  damaged[damaged.size() - 6] ^= 0x40;  // inside the last Event
  EXPECT_TRUE(absl::IsDataLoss(ParseScalarEvents(damaged, &consumed).status()));
  std::string length = bytes;
  length[0] ^= 0x01;
  EXPECT_TRUE(absl::IsDataLoss(ParseScalarEvents(length, &consumed).status()));
  EXPECT_TRUE(ParseScalarEvents("", &consumed).ok());
  EXPECT_EQ(consumed, 0u);
}

}  // namespace
}  // namespace mlcore::ui
