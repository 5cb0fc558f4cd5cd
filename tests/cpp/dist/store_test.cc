// The TCP and file stores against the Store contract: real servers on 127.0.0.1 and real files.
#include "mlcore/dist/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "dist/tcp_store_protocol.h"

namespace mlcore::dist {
namespace {

std::shared_ptr<TcpStore> Host() {
  TcpStoreOptions options;
  options.is_server = true;
  options.bind_address = "127.0.0.1";
  options.timeout = absl::Seconds(5);
  auto store = TcpStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return *store;
}

std::shared_ptr<TcpStore> Client(int port) {
  TcpStoreOptions options;
  options.port = port;
  options.timeout = absl::Seconds(5);
  auto store = TcpStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return *store;
}

void ExerciseContract(Store& a, Store& b) {
  ASSERT_TRUE(a.Set("k", std::string("v\0x", 3)).ok());
  EXPECT_EQ(*b.Get("k", absl::Seconds(1)), std::string("v\0x", 3));
  EXPECT_EQ(*b.Add("n", 5), 5);
  EXPECT_EQ(*a.Add("n", -2), 3);
  EXPECT_EQ(a.Add("k", 1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*a.CompareSet("c", "", "one"), "one");
  EXPECT_EQ(*b.CompareSet("c", "zzz", "two"), "one");
  EXPECT_EQ(*b.CompareSet("c", "one", "two"), "two");
  EXPECT_EQ(*a.Check({"c", "missing"}), (std::vector<bool>{true, false}));
  EXPECT_TRUE(*a.Delete("c"));
  EXPECT_FALSE(*a.Delete("c"));
  Status late = a.Wait({"k", "never"}, absl::Milliseconds(50));
  EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(late.message().find("never"), std::string::npos) << late;
  // A waiter wakes when another client sets its key.
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(b.Set("later", "x").ok());
  });
  EXPECT_EQ(*a.Get("later", absl::Seconds(5)), "x");
  setter.join();
}

TEST(TcpStoreTest, Contract) {
  auto host = Host();
  auto client = Client(host->port());
  ExerciseContract(*host, *client);
}

TEST(TcpStoreTest, PortInUseIsClear) {
  auto host = Host();
  TcpStoreOptions options;
  options.is_server = true;
  options.port = host->port();
  options.bind_address = "127.0.0.1";
  auto second = TcpStore::Open(options);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status();
}

TEST(TcpStoreTest, HostGoneIsUnavailable) {
  auto host = Host();
  auto client = Client(host->port());
  ASSERT_TRUE(client->Set("a", "b").ok());
  host.reset();
  Status status = client->Set("a", "c");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(TcpStoreTest, NobodyListeningTimesOut) {
  auto host = Host();
  int port = host->port();
  host.reset();
  TcpStoreOptions options;
  options.port = port;
  options.timeout = absl::Milliseconds(200);
  auto store = TcpStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST(FileStoreTest, Contract) {
  std::string path = ::testing::TempDir() + "/mlcore_file_store_" + std::to_string(getpid());
  std::filesystem::remove(path);
  auto a = FileStore::Open(path, absl::Seconds(5));
  auto b = FileStore::Open(path, absl::Seconds(5));
  ASSERT_TRUE(a.ok() && b.ok());
  ExerciseContract(**a, **b);
  std::filesystem::remove(path);
}

TEST(PrefixStoreTest, KeysDoNotMeet) {
  auto host = Host();
  auto one = PrefixStore("one", host);
  auto two = PrefixStore("two", host);
  ASSERT_TRUE(one->Set("k", "1").ok());
  EXPECT_EQ(*two->Check({"k"}), std::vector<bool>{false});
  EXPECT_EQ(*host->Get("one/k", absl::Seconds(1)), "1");
}

TEST(StoreProtocolTest, RoundTripsAndRejectsGarbage) {
  using namespace internal;
  StoreRequest r{StoreOp::kCompareSet, {"key"}, "new", "old", 0};
  auto back = DecodeRequest(EncodeRequest(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->keys[0], "key");
  EXPECT_EQ(back->expected, "old");
  EXPECT_EQ(back->value, "new");
  StoreRequest w{StoreOp::kWait, {"a", "b"}, "", "", 77};
  back = DecodeRequest(EncodeRequest(w));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->keys.size(), 2u);
  EXPECT_EQ(back->number, 77);
  EXPECT_FALSE(DecodeRequest("").ok());
  EXPECT_FALSE(DecodeRequest(std::string("\x09", 1)).ok());
  EXPECT_FALSE(DecodeRequest(std::string("\x01\xff\xff\xff\x7f", 5)).ok());
  EXPECT_FALSE(DecodeRequest(EncodeRequest(r) + "x").ok());
}

TEST(RendezvousTest, EnvNeedsMasterPort) {
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  unsetenv("MASTER_PORT");
  RendezvousOptions options;
  options.rank = 0;
  options.world_size = 1;
  auto rv = OpenRendezvous(options);
  ASSERT_FALSE(rv.ok());
  EXPECT_NE(rv.status().message().find("MASTER_PORT"), std::string::npos) << rv.status();
  options.init_method = "tcp://127.0.0.1:1";
  options.rank = 2;
  options.world_size = 2;
  rv = OpenRendezvous(options);
  ASSERT_FALSE(rv.ok());
  EXPECT_NE(rv.status().message().find("rank 2 is outside"), std::string::npos) << rv.status();
  options.init_method = "udp://x";
  EXPECT_EQ(OpenRendezvous(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlcore::dist
