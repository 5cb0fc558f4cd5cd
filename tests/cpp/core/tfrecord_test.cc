// TFRecord framing: the writer's records read back by the reader, and every damage the reader
// must refuse or wait out.
#include "core/tfrecord.h"

#include <gtest/gtest.h>

namespace mlcore::internal {
namespace {

TEST(TFRecordTest, MaskedCrcOfTheStandardCheckString) {
  // CRC-32C("123456789") is 0xE3069283; masked: rotated right by 15, plus 0xa282ead8.
  EXPECT_EQ(MaskedCrc32c("123456789"), 0xc78ab0e5u);
}

TEST(TFRecordTest, RecordsReadBackInOrder) {
  std::string file;
  AppendTFRecord(&file, "first");
  AppendTFRecord(&file, "");
  AppendTFRecord(&file, std::string(1000, 'x'));
  EXPECT_EQ(file.size(), 3 * 16 + 5 + 1000u);
  size_t pos = 0;
  std::vector<std::string> read;
  while (true) {
    auto next = NextTFRecord(file, &pos, 1 << 20, "test file");
    ASSERT_TRUE(next.ok()) << next.status();
    if (!next->has_value()) break;
    read.emplace_back(**next);
  }
  EXPECT_EQ(read, (std::vector<std::string>{"first", "", std::string(1000, 'x')}));
  EXPECT_EQ(pos, file.size());
}

TEST(TFRecordTest, ARecordStillBeingWrittenIsWaitedFor) {
  std::string file;
  AppendTFRecord(&file, "complete");
  const size_t first = file.size();
  AppendTFRecord(&file, "partial");
  for (size_t cut = first; cut < file.size(); ++cut) {
    size_t pos = first;
    auto next = NextTFRecord(std::string_view(file).substr(0, cut), &pos, 1 << 20, "f");
    ASSERT_TRUE(next.ok()) << cut << ": " << next.status();
    EXPECT_FALSE(next->has_value()) << cut;
    EXPECT_EQ(pos, first);
  }
}

TEST(TFRecordTest, DamageIsDataLossNamingTheOffset) {
  std::string good;
  AppendTFRecord(&good, "ok");
  std::string file = good;
  AppendTFRecord(&file, "payload");
  const size_t at = good.size();

  std::string bad_length = file;
  bad_length[at + 8] ^= 1;
  size_t pos = at;
  auto r = NextTFRecord(bad_length, &pos, 1 << 20, "event file");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message(), "event file: bad length checksum at byte " + std::to_string(at));

  std::string bad_data = file;
  bad_data[at + 12] ^= 1;
  pos = at;
  r = NextTFRecord(bad_data, &pos, 1 << 20, "event file");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message(), "event file: bad data checksum at byte " + std::to_string(at));
  EXPECT_EQ(pos, at);

  pos = at;
  r = NextTFRecord(file, &pos, 3, "event file");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().message(), "event file: a record of 7 bytes at byte " + std::to_string(at));
}

}  // namespace
}  // namespace mlcore::internal
