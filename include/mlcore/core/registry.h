// A table of factories keyed by name: how mlcore builds samplers, pruners, layers, losses and
// optimizers from a word ("tpe", "dense", "adam"), and how users add their own. Each built-in
// registers itself from its own .cc file through a static Registrar, so a new algorithm is one
// new file. Every family reports an unknown name the same way: InvalidArgument
// "unknown <kind> '<name>' (known: a, b, c)", which Python raises as ValueError.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlcore/core/status.h"

namespace mlcore {
namespace registry_internal {

// The shared error texts, so that every registry words them alike.
Status UnknownName(std::string_view kind, std::string_view name,
                   const std::vector<std::string>& known);
Status AlreadyRegistered(std::string_view kind, std::string_view name);
// A registrar that fails at load time is a build mistake (two built-ins with one name): it prints
// the status and aborts, since nothing can return an error from static initialisation.
[[noreturn]] void RegistrarFailed(const Status& status);

}  // namespace registry_internal

// Thread-safe: registration takes a writer lock, lookups share a reader lock, and Create calls
// the factory outside any lock (a factory may build other registered objects). Names are
// case-sensitive and listed in sorted order.
template <typename Factory>
class Registry {
 public:
  // `kind` is the family's word in messages ("sampler", "layer").
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const std::string& kind() const { return kind_; }

  // AlreadyExists when `name` is taken; InvalidArgument for an empty name or an empty factory.
  Status Register(const std::string& name, Factory factory) {
    std::unique_lock lock(mu_);
    if (factories_.count(name) != 0) return registry_internal::AlreadyRegistered(kind_, name);
    if (name.empty()) return absl::InvalidArgumentError("a " + kind_ + " needs a name");
    if (!factory) {
      return absl::InvalidArgumentError("the " + kind_ + " '" + name + "' needs a factory");
    }
    factories_.emplace(name, std::move(factory));
    return absl::OkStatus();
  }

  // The factory registered as `name`; InvalidArgument listing the known names otherwise.
  StatusOr<Factory> Find(std::string_view name) const {
    std::shared_lock lock(mu_);
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      return registry_internal::UnknownName(kind_, name, NamesLocked());
    }
    return it->second;
  }

  // Find(name), then the factory called with `args` (its StatusOr result, or Find's error).
  template <typename... Args>
  std::invoke_result_t<const Factory&, Args&&...> Create(std::string_view name,
                                                         Args&&... args) const {
    StatusOr<Factory> factory = Find(name);
    if (!factory.ok()) return factory.status();
    return (*factory)(std::forward<Args>(args)...);
  }

  bool Contains(std::string_view name) const {
    std::shared_lock lock(mu_);
    return factories_.find(name) != factories_.end();
  }

  std::vector<std::string> Names() const {
    std::shared_lock lock(mu_);
    return NamesLocked();
  }

 private:
  std::vector<std::string> NamesLocked() const {
    std::vector<std::string> names;
    names.reserve(factories_.size());
    for (const auto& entry : factories_) names.push_back(entry.first);
    return names;
  }

  const std::string kind_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Factory, std::less<>> factories_;
};

// Registers a factory when the library loads. Declare one at namespace scope in the file that
// implements the thing registered:
//   static Registrar<SamplerFactory> registration(SamplerRegistry(), "mine", &NewMine);
// Each family's registry is returned by a function (SamplerRegistry()), created on first use, so
// registrars in any file may run first. libmlcore is a shared library, so the linker keeps every
// registrar; a static build would need --whole-archive.
template <typename Factory>
class Registrar {
 public:
  Registrar(Registry<Factory>& registry, const std::string& name, Factory factory) {
    Status status = registry.Register(name, std::move(factory));
    if (!status.ok()) registry_internal::RegistrarFailed(status);
  }
};

}  // namespace mlcore
