// mlcore's Store seen through Gloo's rendezvous interface (gloo::rendezvous::Store), which
// Debian's libgloo-dev declares but ships no TCP implementation of. Gloo expects exceptions, so
// failures become gloo::IoException carrying the Status's message.
#pragma once

#include <gloo/rendezvous/store.h>

#include <memory>

#include "mlcore/dist/store.h"

namespace mlcore::dist::internal {

class GlooStore : public gloo::rendezvous::Store {
 public:
  GlooStore(std::shared_ptr<dist::Store> store, absl::Duration timeout)
      : store_(std::move(store)), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys) override;
  void wait(const std::vector<std::string>& keys,
            const std::chrono::milliseconds& timeout) override;

 private:
  std::shared_ptr<dist::Store> store_;
  absl::Duration timeout_;
};

}  // namespace mlcore::dist::internal
