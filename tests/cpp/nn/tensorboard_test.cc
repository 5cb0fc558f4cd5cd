// Event files framed as TFRecords: every record's length and CRCs check out (recomputed here
// independently), and the payload carries the tag and value written.
#include "mlcore/nn/tensorboard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mlcore/nn/sequential.h"

namespace mlcore::nn {
namespace {

uint32_t Crc32cBitwise(const std::string& s) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : s) {
    crc ^= ch;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

uint32_t Masked(const std::string& s) {
  const uint32_t c = Crc32cBitwise(s);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

TEST(TensorBoardTest, RecordsAreFramedWithValidCrcs) {
  EXPECT_EQ(Crc32cBitwise("123456789"), 0xE3069283u);  // the CRC-32C check value
  const auto dir =
      std::filesystem::temp_directory_path() / ("mlcore_tb_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string path;
  {
    auto writer = SummaryWriter::Open(dir.string());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->AddScalar("epoch_loss", 0.25, 7).ok());
    path = (*writer)->path();
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    ASSERT_LE(pos + 12, bytes.size());
    uint64_t len;
    uint32_t len_crc, data_crc;
    std::memcpy(&len, bytes.data() + pos, 8);
    std::memcpy(&len_crc, bytes.data() + pos + 8, 4);
    EXPECT_EQ(len_crc, Masked(bytes.substr(pos, 8)));
    ASSERT_LE(pos + 16 + len, bytes.size());
    const std::string data = bytes.substr(pos + 12, len);
    std::memcpy(&data_crc, bytes.data() + pos + 12 + len, 4);
    EXPECT_EQ(data_crc, Masked(data));
    events.push_back(data);
    pos += 16 + len;
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("brain.Event:2"), std::string::npos);
  EXPECT_NE(events[1].find("epoch_loss"), std::string::npos);
  const float value = 0.25f;
  EXPECT_NE(events[1].find(std::string(reinterpret_cast<const char*>(&value), 4)),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

std::string ReadDirFile(const std::filesystem::path& dir) {
  std::string all;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

TEST(TensorBoardTest, TheCallbackWritesTrainingAndValidationAsTwoRunsWithTheSameTags) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("mlcore_tb_cb_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    auto cb = TensorBoard(dir.string());
    ASSERT_TRUE(cb.ok()) << cb.status();
    bool stop = false;
    Sequential model;
    ASSERT_TRUE((*cb)->OnEpochEnd(model, 0, {{"loss", 0.5}, {"lr", 0.1}}, &stop).ok());
    EXPECT_FALSE(std::filesystem::exists(dir / "validation")) << "made on first validation logs";
    ASSERT_TRUE((*cb)->OnEpochEnd(model, 1, {{"loss", 0.25}, {"val_loss", 0.75}}, &stop).ok());
  }
  const std::string train = ReadDirFile(dir / "train");
  const std::string validation = ReadDirFile(dir / "validation");
  EXPECT_NE(train.find("epoch_loss"), std::string::npos);
  EXPECT_NE(train.find("epoch_lr"), std::string::npos);
  EXPECT_EQ(train.find("val_"), std::string::npos);
  EXPECT_NE(validation.find("epoch_loss"), std::string::npos);
  EXPECT_EQ(validation.find("val_"), std::string::npos);
  const float v = 0.75f;
  EXPECT_NE(validation.find(std::string(reinterpret_cast<const char*>(&v), 4)), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlcore::nn
