// Serving from C++: trains a small classifier, saves it, serves it with serve::Server in this
// process on a free port of 127.0.0.1, and asks it for predictions over HTTP (the KServe v1
// protocol: POST /v1/models/<name>:predict) as any client would, with a plain socket. Prints the
// predicted classes. Pass a directory for the saved model (default: ./served_model). Exits
// non-zero if anything fails.
#include <arpa/inet.h>
#include <mlcore/mlcore.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "two_class_mlp.h"

namespace {

namespace nn = mlcore::nn;

// y = 1 when x0 > x1, for points on a grid.
absl::Status TrainAndSave(const std::string& dir) {
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int i = 0; i < 12; ++i) {
    for (int j = 0; j < 12; ++j) {
      xs.push_back(i / 6.0f - 1), xs.push_back(j / 6.0f - 1);
      ys.push_back(i > j ? 1 : 0);
    }
  }
  const int64_t n = static_cast<int64_t>(ys.size());
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor x, mlcore::Tensor::FromVector(xs, {n, 2}));
  MLCORE_ASSIGN_OR_RETURN(mlcore::Tensor y, mlcore::Tensor::FromVector(ys, {n}));
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<nn::Sequential> model, TwoClassMlp(2e-2));
  nn::FitOptions fit;
  fit.epochs = 40;
  fit.batch_size = 16;
  MLCORE_RETURN_IF_ERROR(model->Fit(x, y, fit).status());
  return model->Save(dir);
}

// One HTTP/1.1 request to 127.0.0.1:port; the response body.
absl::StatusOr<std::string> Post(int port, const std::string& path, const std::string& body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError("cannot connect to port " + std::to_string(port));
  }
  const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                              "Content-Type: application/json\r\nConnection: close\r\n" +
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) response.append(buffer, n);
  close(fd);
  if (response.rfind("HTTP/1.1 200", 0) != 0) {
    return absl::InternalError("the server answered: " + response.substr(0, 200));
  }
  return response.substr(response.find("\r\n\r\n") + 4);
}

absl::Status Run(const std::string& dir) {
  MLCORE_RETURN_IF_ERROR(TrainAndSave(dir));
  mlcore::serve::ServerOptions options;
  options.http_port = 0;  // any free port
  options.http_threads = 1;
  mlcore::serve::Server server(options);
  MLCORE_RETURN_IF_ERROR(server.AddModel("toy", dir));
  MLCORE_RETURN_IF_ERROR(server.Start());
  std::cout << "serving toy at " << server.url() << "\n";
  MLCORE_ASSIGN_OR_RETURN(std::string body,
                          Post(server.http_port(), "/v1/models/toy:predict",
                               R"({"instances": [[0.9, -0.8], [-0.7, 0.6], [0.5, 0.1]]})"));
  server.Stop();
  // The reply is JSON: read it with mlcore::Json (or any JSON library of your own).
  mlcore::Json reply = mlcore::Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.contains("predictions")) return absl::InternalError("unexpected reply " + body);
  std::vector<int> classes;
  for (const mlcore::Json& logits : reply["predictions"]) {
    classes.push_back(logits[1].get<double>() > logits[0].get<double>() ? 1 : 0);
  }
  std::cout << "predicted classes:";
  for (int c : classes) std::cout << " " << c;
  std::cout << "\n";
  if (classes != std::vector<int>{1, 0, 1}) return absl::InternalError("wrong predictions");
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::Status status = Run(argc > 1 ? argv[1] : "served_model");
  if (!status.ok()) {
    std::cerr << "serve_model: " << mlcore::StatusText(status) << "\n";
    return 1;
  }
  return 0;
}
