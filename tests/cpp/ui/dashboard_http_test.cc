// The dashboard over real HTTP on 127.0.0.1: mounted at /ui on a serve::Server, pages, JSON
// endpoints, 404s, refused paths, the token on changes, and a missing store as a clear 503.
#include <gtest/gtest.h>

#include "mlcore/serve/server.h"
#include "mlcore/ui/dashboard.h"
#include "ui/ui_test_util.h"

namespace mlcore::ui {
namespace {

using testing::Http;
using testing::Json;
using testing::ScratchHome;

std::unique_ptr<serve::Server> Serve(const std::string& home, const std::string& token = "") {
  DashboardOptions o;
  o.home = home;
  o.token = token;
  auto dashboard = Dashboard::Open(o);
  EXPECT_TRUE(dashboard.ok());
  serve::ServerOptions so;
  so.http_port = 0;
  so.http_threads = 2;
  so.http_mounts.push_back(MountDashboard(*std::move(dashboard)));
  auto server = std::make_unique<serve::Server>(so);
  Status started = server->Start();
  EXPECT_TRUE(started.ok()) << started;
  return server;
}

TEST(DashboardHttp, PagesApiAndErrors) {
  ScratchHome home;
  std::string run_id = testing::RunPipeline(home.path());
  testing::RunStudy(home.path());
  auto server = Serve(home.path());
  const int port = server->http_port();

  auto redirect = Http(port, "GET", "/ui");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_NE(redirect.headers.find("Location: /ui/"), std::string::npos);
  auto index = Http(port, "GET", "/ui/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.body.find("static/app.js"), std::string::npos);
  EXPECT_NE(index.headers.find("text/html"), std::string::npos);
  EXPECT_NE(index.headers.find("Content-Security-Policy"), std::string::npos);
  for (const char* file : {"app.js", "app.css", "charts.js", "runs.js", "studies.js", "training.js",
                           "models.js", "servers.js", "start.js"}) {
    EXPECT_EQ(Http(port, "GET", std::string("/ui/static/") + file).status, 200) << file;
  }

  auto runs = Http(port, "GET", "/ui/api/runs?state=succeeded&limit=10");
  ASSERT_EQ(runs.status, 200) << runs.body;
  EXPECT_EQ(Json::parse(runs.body)["runs"][0]["id"], run_id);
  auto dag = Http(port, "GET", "/ui/api/runs/" + run_id + "/dag");
  EXPECT_EQ(dag.status, 200);
  EXPECT_NE(dag.headers.find("image/svg+xml"), std::string::npos);
  auto trials =
      Http(port, "GET", "/ui/api/studies/search/trials?sort=value&order=desc&state=complete");
  ASSERT_EQ(trials.status, 200) << trials.body;
  EXPECT_EQ(Json::parse(trials.body)["total"], 5);
  EXPECT_EQ(Http(port, "GET", "/ui/api/studies/search/plots").status, 200);
  testing::RunCommandStudy(home.path());
  auto log = Http(port, "GET", "/ui/api/studies/cmd/trials/1/logs/stdout");
  ASSERT_EQ(log.status, 200) << log.body;
  EXPECT_EQ(log.body, "hello from trial 1\nloss=1\n");
  EXPECT_NE(log.headers.find("text/plain"), std::string::npos);
  EXPECT_EQ(Http(port, "GET", "/ui/api/studies/cmd/trials/1/logs/stderr?max_bytes=2").body, "1\n");
  EXPECT_EQ(Http(port, "GET", "/ui/api/studies/cmd/trials/9/logs/stdout").status, 404);
  EXPECT_EQ(Http(port, "GET", "/ui/api/studies/cmd/trials/1/logs/env").status, 400);

  // Unknown ids: 404 JSON; unknown pages: a 404 page.
  auto missing = Http(port, "GET", "/ui/api/runs/no-such-run");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(Json::parse(missing.body)["error"].get<std::string>().find("no-such-run"),
            std::string::npos);
  EXPECT_EQ(Http(port, "GET", "/ui/api/studies/nope/trials").status, 404);
  EXPECT_EQ(Http(port, "GET", "/ui/api/nothing").status, 404);
  auto page = Http(port, "GET", "/ui/nothing");
  EXPECT_EQ(page.status, 404);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_EQ(Http(port, "GET", "/ui/static/missing.js").status, 404);

  // Paths that try to leave: refused before anything is read.
  EXPECT_EQ(Http(port, "GET", "/ui/api/artifacts/1/download?path=../../mlcore.db").status, 400);
  EXPECT_EQ(Http(port, "GET", "/ui/api/artifacts/1/download?path=%2Fetc%2Fpasswd").status, 400);
  EXPECT_EQ(Http(port, "GET", "/ui/static/..%2f..%2fmlcore.db").status, 404);
  EXPECT_EQ(Http(port, "GET", "/ui/api/runs/%2e%2e/dag").status, 400);
  EXPECT_EQ(Http(port, "GET", "/ui/api/artifacts/x").status, 400);
  EXPECT_EQ(Http(port, "GET", "/ui/api/runs?limit=abc").status, 400);

  // Read-only without a token.
  auto post = Http(port, "POST", "/ui/api/models/digits/aliases/production", R"({"version":1})");
  EXPECT_EQ(post.status, 403);
  // The inference endpoints are still there beside the mount.
  EXPECT_EQ(Http(port, "GET", "/v2/health/live").status, 200);
}

TEST(DashboardHttp, PromotingAnAliasNeedsTheBearerToken) {
  ScratchHome home;
  testing::RegisterModel(home.path());
  auto server = Serve(home.path(), "s3cret");
  const int port = server->http_port();
  const std::string target = "/ui/api/models/digits/aliases/production";
  EXPECT_EQ(Http(port, "POST", target, R"({"version":1})").status, 401);
  EXPECT_EQ(Http(port, "POST", target, R"({"version":1})", "Bearer wrong").status, 403);
  EXPECT_EQ(Http(port, "POST", target, R"({"version":"x"})", "Bearer s3cret").status, 400);
  auto ok = Http(port, "POST", target, R"({"version":1})", "Bearer s3cret");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Json::parse(ok.body)["aliases"]["production"], 1);
  EXPECT_EQ(Http(port, "GET", "/ui/api/models/digits").status, 200);
}

TEST(DashboardHttp, MissingOrDamagedStoreIsAClear503) {
  ScratchHome home;
  auto server = Serve(home.path() + "/empty");
  auto runs = Http(server->http_port(), "GET", "/ui/api/runs");
  EXPECT_EQ(runs.status, 503);
  EXPECT_NE(Json::parse(runs.body)["error"].get<std::string>().find("no mlcore store"),
            std::string::npos);
  EXPECT_EQ(Http(server->http_port(), "GET", "/ui/").status, 200);  // the page still loads

  std::filesystem::create_directories(home.path() + "/bad");
  std::ofstream(home.path() + "/bad/mlcore.db") << std::string(8192, 'x');
  auto bad = Serve(home.path() + "/bad");
  auto studies = Http(bad->http_port(), "GET", "/ui/api/studies");
  EXPECT_EQ(studies.status, 503);
  EXPECT_TRUE(Json::parse(studies.body).contains("error"));
}

}  // namespace
}  // namespace mlcore::ui
