// The model-registry hook: a served `name@alias` follows the alias to a new version on the next
// poll, loading it before the old one goes, so requests running meanwhile all succeed; unknown
// references are NotFound and a manager without a resolver refuses registry models.
#include "mlcore/serve/model_resolver.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "mlcore/serve/server.h"
#include "serve/serve_test_util.h"

namespace mlcore::serve {
namespace {

using testing::Request;
using testing::SaveMlp;
using testing::ToFloats;

// A registry in memory: reference -> (version, checkpoint directory), moved by the test.
class MapResolver : public ModelResolver {
 public:
  StatusOr<ResolvedModel> Resolve(const std::string& reference) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = refs_.find(reference);
    if (it == refs_.end()) return absl::NotFoundError("no registry model " + reference);
    return it->second;
  }
  void Set(const std::string& reference, int64_t version, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    refs_[reference] = ResolvedModel{version, path, ""};
  }

 private:
  std::mutex mu_;
  std::map<std::string, ResolvedModel> refs_;
};

class ModelResolverTest : public nn::testing::TempDirTest {};

TEST_F(ModelResolverTest, FollowsAnAliasMoveWithoutFailingARequest) {
  auto v1 = SaveMlp((dir_ / "v1").string(), 1);
  auto v2 = SaveMlp((dir_ / "v2").string(), 2);
  auto resolver = std::make_shared<MapResolver>();
  resolver->Set("digits@production", 1, (dir_ / "v1").string());
  ManagerOptions options;
  options.resolver = resolver;
  ModelManager manager(options);
  ASSERT_TRUE(manager.Start().ok());
  ASSERT_TRUE(manager.AddRegistryModel("digits", "digits@production").ok());
  EXPECT_EQ(manager.Metadata("digits")->versions, std::vector<std::string>{"1"});

  std::vector<float> x = {1, 2, 3, 4};
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, answered{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        manager.Infer(Request("digits", x)).ok() ? ++answered : ++failed;
      }
    });
  }
  while (answered < 50) std::this_thread::yield();
  resolver->Set("digits@production", 2, (dir_ / "v2").string());
  ASSERT_TRUE(manager.PollRepository().ok());
  int after_move = answered;
  while (answered < after_move + 50) std::this_thread::yield();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(manager.Metadata("digits")->versions, std::vector<std::string>{"2"});
  auto response = manager.Infer(Request("digits", x));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->model_version, "2");
  auto t = Tensor::FromVector(x, {1, 4});
  auto y = v2->Predict(*t);
  const float* p = static_cast<const float*>(y->data());
  EXPECT_EQ(ToFloats(response->outputs[0]), std::vector<float>(p, p + 3));

  EXPECT_EQ(manager.AddRegistryModel("other", "other@staging").code(), absl::StatusCode::kNotFound);
  ModelManager bare;
  EXPECT_EQ(bare.AddRegistryModel("digits", "digits@production").code(),
            absl::StatusCode::kFailedPrecondition);
}

// A Server with no resolver in its options serves a registry model through the one it is added
// with, and follows the alias on the registry poll it runs by default (no poll_interval_ms).
TEST_F(ModelResolverTest, ServerFollowsAnAliasThroughAPerModelResolver) {
  SaveMlp((dir_ / "v1").string(), 1);
  SaveMlp((dir_ / "v2").string(), 2);
  auto resolver = std::make_shared<MapResolver>();
  resolver->Set("digits@production", 1, (dir_ / "v1").string());
  ServerOptions options;
  options.http_port = -1;
  options.models.registry_poll_interval_ms = 20;
  Server server(options);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.AddRegistryModel("digits", "digits@production").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(server.AddRegistryModel("digits", "digits@production", {}, resolver).ok());
  EXPECT_EQ(server.Infer(Request("digits", {1, 2, 3, 4}))->model_version, "1");
  resolver->Set("digits@production", 2, (dir_ / "v2").string());
  for (int i = 0; i < 500 && server.models().Metadata("digits")->versions[0] != "2"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.Infer(Request("digits", {1, 2, 3, 4}))->model_version, "2");
}

}  // namespace
}  // namespace mlcore::serve
