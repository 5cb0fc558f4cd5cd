// mlcore-server: the inference server as a program, linked against libmlcore alone.
//   mlcore-server --model-repository /models [--http-port 8080] [--host 0.0.0.0]
//                 [--model name=checkpoint_dir]... [--poll-interval-ms 5000]
//                 [--auth-token-file FILE] [--grpc-port 8081] [--http-threads N]
//                 [--home DIR] [--ui-home DIR]
//   mlcore-server --registry [--home DIR] --model digits@production [--model NAME=REF]...
// With --registry each --model is a registry reference (`name`, `name/3`, `name@alias`),
// served as its model name or as NAME; aliases are followed as they move.
// --home DIR is the home whose registry --registry reads, and the server records itself in its
// store (the dashboard lists it); --ui-home mounts the dashboard of DIR at /ui (read-only
// unless --auth-token-file is given: the same token).
// Runs until SIGINT or SIGTERM, then drains the requests in flight and exits 0.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "mlcore/registry/serve_resolver.h"
#include "mlcore/serve/server.h"
#include "mlcore/ui/dashboard.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "mlcore-server: " << why << "\n"
            << "usage: mlcore-server [--model-repository DIR] [--model NAME=DIR]... "
               "[--registry [--home DIR] --model NAME[@alias|/version]...] [--host H] [--http-port "
               "P] [--grpc-port P] [--http-threads N] "
               "[--poll-interval-ms MS] [--auth-token-file FILE] [--max-request-bytes N] "
               "[--home DIR] [--ui-home DIR]\n";
  return 2;
}

bool ParseInt(const std::string& text, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') return false;
  *out = v;
  return true;
}

// The served name of a registry reference: "digits" for digits@production or digits/3.
std::string ModelNameOf(const std::string& reference) {
  return reference.substr(0, reference.find_first_of("/@"));
}

// Adds each --model as a checkpoint (NAME=DIR) or, with --registry, a registry model.
int AddModels(mlcore::serve::Server& server,
              const std::vector<std::pair<std::string, std::string>>& models, bool registry,
              const std::string& home) {
  std::shared_ptr<mlcore::serve::ModelResolver> resolver;
  if (registry) {
    auto made = mlcore::registry::MakeServeResolver({.home = home});
    if (!made.ok()) {
      std::cerr << "mlcore-server: " << made.status() << "\n";
      return 1;
    }
    resolver = *made;
  }
  for (const auto& [name, source] : models) {
    mlcore::Status added = registry ? server.AddRegistryModel(name, source, {}, resolver)
                                    : server.AddModel(name, source);
    if (!added.ok()) {
      std::cerr << "mlcore-server: " << added << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mlcore::serve::ServerOptions options;
  std::vector<std::pair<std::string, std::string>> models;
  std::vector<std::string> model_flags;
  bool registry = false;
  std::string home;
  std::string ui_home;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return Usage("serves models over HTTP (KServe V1/V2)");
    if (flag == "--registry") {
      registry = true;
      continue;
    }
    if (i + 1 >= argc) return Usage(flag + " needs a value");
    std::string value = argv[++i];
    int64_t n = 0;
    bool numeric = ParseInt(value, &n);
    if (flag == "--model-repository") {
      options.models.model_repository = value;
    } else if (flag == "--model") {
      model_flags.push_back(value);
    } else if (flag == "--home") {
      home = value;
      options.record_home = value;
    } else if (flag == "--host") {
      options.host = value;
    } else if (flag == "--http-port" && numeric) {
      options.http_port = static_cast<int>(n);
    } else if (flag == "--grpc-port" && numeric) {
      options.grpc_port = static_cast<int>(n);
    } else if (flag == "--http-threads" && numeric) {
      options.http_threads = static_cast<int>(n);
    } else if (flag == "--poll-interval-ms" && numeric) {
      options.models.poll_interval_ms = n;
    } else if (flag == "--max-request-bytes" && numeric) {
      options.max_request_bytes = n;
    } else if (flag == "--ui-home") {
      ui_home = value;
    } else if (flag == "--auth-token-file") {
      std::ifstream file(value);
      std::stringstream text;
      text << file.rdbuf();
      options.auth_token = text.str();
      while (!options.auth_token.empty() && std::isspace(options.auth_token.back())) {
        options.auth_token.pop_back();
      }
      if (!file || options.auth_token.empty()) return Usage("cannot read a token from " + value);
    } else {
      return Usage("unknown or malformed flag " + flag);
    }
  }
  for (const std::string& value : model_flags) {
    size_t eq = value.find('=');
    if (eq == std::string::npos && !registry) return Usage("--model takes NAME=DIR");
    if (eq == std::string::npos) {
      models.emplace_back(ModelNameOf(value), value);
    } else {
      models.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    }
  }
  // Block the stop signals in every thread the server starts; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!ui_home.empty()) {
    if (mlcore::Status mounted = mlcore::ui::MountDashboardOf(ui_home, options); !mounted.ok()) {
      std::cerr << "mlcore-server: " << mounted << "\n";
      return 1;
    }
  }
  mlcore::serve::Server server(options);
  if (int failed = AddModels(server, models, registry, home); failed != 0) return failed;
  mlcore::Status started = server.Start();
  if (!started.ok()) {
    std::cerr << "mlcore-server: " << started << "\n";
    return 1;
  }
  std::cout << "mlcore-server: serving on " << server.url() << std::endl;
  if (server.grpc_port() >= 0) {
    std::cout << "mlcore-server: gRPC on " << options.host << ":" << server.grpc_port()
              << std::endl;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  std::cout << "mlcore-server: stopping (signal " << signal << ")" << std::endl;
  server.Stop();
  return 0;
}
