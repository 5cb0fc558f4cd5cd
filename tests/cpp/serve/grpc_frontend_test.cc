// The "grpc" front end as a C++ program gets it: libmlcore's loader opens libmlcore_grpc on the
// first gRPC port. The protocol itself is tested with tritonclient.grpc
// (tests/python/test_serve_grpc.py).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "mlcore/serve/server.h"

namespace mlcore::serve {
namespace {

bool Connects(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool GrpcMapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("libmlcore_grpc") != std::string::npos) return true;
  }
  return false;
}

TEST(GrpcFrontendTest, LoadedOnTheFirstGrpcPortAndListening) {
  ServerOptions options;
  options.http_port = -1;
  options.grpc_port = 0;
  Server server(options);
  EXPECT_FALSE(GrpcMapped());  // nothing maps grpc++ until a server asks for a gRPC port
  Status started = server.Start();
  if (started.code() == absl::StatusCode::kNotFound) GTEST_SKIP() << started;
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_TRUE(GrpcMapped());
  ASSERT_GT(server.grpc_port(), 0);
  EXPECT_TRUE(Connects(server.grpc_port()));

  // A second server on the same port fails rather than sharing it.
  ServerOptions same = options;
  same.grpc_port = server.grpc_port();
  Server second(same);
  Status taken = second.Start();
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable) << taken;
  EXPECT_NE(taken.message().find("cannot listen"), std::string::npos) << taken;

  const int port = server.grpc_port();
  server.Stop();
  EXPECT_FALSE(Connects(port));
}

}  // namespace
}  // namespace mlcore::serve
