// mlcore-server: the inference server as a program, linked against libmlcore alone.
//   mlcore-server --model-repository /models [--http-port 8080] [--host 0.0.0.0]
//                 [--model name=checkpoint_dir]... [--poll-interval-ms 5000]
//                 [--auth-token-file FILE] [--grpc-port 8081] [--http-threads N]
// Runs until SIGINT or SIGTERM, then drains the requests in flight and exits 0.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "mlcore/serve/server.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "mlcore-server: " << why << "\n"
            << "usage: mlcore-server [--model-repository DIR] [--model NAME=DIR]... "
               "[--host H] [--http-port P] [--grpc-port P] [--http-threads N] "
               "[--poll-interval-ms MS] [--auth-token-file FILE] [--max-request-bytes N]\n";
  return 2;
}

bool ParseInt(const std::string& text, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  mlcore::serve::ServerOptions options;
  std::vector<std::pair<std::string, std::string>> models;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return Usage("serves models over HTTP (KServe V1/V2)");
    if (i + 1 >= argc) return Usage(flag + " needs a value");
    std::string value = argv[++i];
    int64_t n = 0;
    bool numeric = ParseInt(value, &n);
    if (flag == "--model-repository") {
      options.models.model_repository = value;
    } else if (flag == "--model") {
      size_t eq = value.find('=');
      if (eq == std::string::npos) return Usage("--model takes NAME=DIR");
      models.emplace_back(value.substr(0, eq), value.substr(eq + 1));
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
  // Block the stop signals in every thread the server starts; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  mlcore::serve::Server server(options);
  for (const auto& [name, dir] : models) {
    mlcore::Status added = server.AddModel(name, dir);
    if (!added.ok()) {
      std::cerr << "mlcore-server: " << added << "\n";
      return 1;
    }
  }
  mlcore::Status started = server.Start();
  if (!started.ok()) {
    std::cerr << "mlcore-server: " << started << "\n";
    return 1;
  }
  std::cout << "mlcore-server: serving on " << server.url() << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cout << "mlcore-server: stopping (signal " << signal << ")" << std::endl;
  server.Stop();
  return 0;
}
