// mlcore._mlcore.store: the metadata store (SQLite) and the artifact store. Converts Python
// values to SQL values and back, releases the GIL around every call that touches the disk or may
// wait for another process's lock.
#include <cxxabi.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"

namespace mlcore::python {
namespace {

using store::Artifact;
using store::ArtifactStore;
using store::MetadataStore;

store::Value ToValue(const py::handle& object, size_t position) {
  if (object.is_none()) return std::monostate();
  // bool is an int subclass in Python and an integer in SQLite.
  if (py::isinstance<py::int_>(object)) return object.cast<int64_t>();
  if (py::isinstance<py::float_>(object)) return object.cast<double>();
  if (py::isinstance<py::str>(object)) return object.cast<std::string>();
  if (py::isinstance<py::bytes>(object)) return store::Blob{object.cast<std::string>()};
  if (py::isinstance<py::bytearray>(object) || py::isinstance<py::memoryview>(object)) {
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(object).request();
    return store::Blob{std::string(static_cast<const char*>(info.ptr),
                                   static_cast<size_t>(info.size * info.itemsize))};
  }
  throw py::type_error("SQL parameter " + std::to_string(position + 1) +
                       " must be None, int, float, str or bytes, not " +
                       std::string(py::str(py::type::of(object).attr("__name__"))));
}

py::object FromValue(const store::Value& value) {
  struct Converter {
    py::object operator()(std::monostate) const { return py::none(); }
    py::object operator()(int64_t v) const { return py::int_(v); }
    py::object operator()(double v) const { return py::float_(v); }
    py::object operator()(const std::string& v) const { return py::str(v); }
    py::object operator()(const store::Blob& v) const { return py::bytes(v.bytes); }
  };
  return std::visit(Converter{}, value);
}

std::vector<store::Value> ToValues(const py::iterable& params) {
  std::vector<store::Value> values;
  for (py::handle item : params) values.push_back(ToValue(item, values.size()));
  return values;
}

py::list ToRows(const std::vector<store::Row>& rows) {
  py::list out;
  for (const store::Row& row : rows) {
    py::tuple tuple(row.size());
    for (size_t i = 0; i < row.size(); ++i) tuple[i] = FromValue(row[i]);
    out.append(std::move(tuple));
  }
  return out;
}

std::string PathString(const std::optional<std::filesystem::path>& path) {
  return path.has_value() ? path->string() : std::string();
}

// MetadataStore.transaction: fn() in a write transaction, its exception re-raised after the
// rollback.
py::object RunTransaction(MetadataStore& self, const py::function& fn) {
  py::object result = py::none();
  std::exception_ptr raised;
  Status status;
  {
    py::gil_scoped_release release;
    status = self.Transaction([&]() -> Status {
      py::gil_scoped_acquire acquire;
      try {
        result = fn();
      } catch (abi::__forced_unwind&) {
        throw;  // a thread ended at interpreter exit: swallowing it aborts
      } catch (...) {
        raised = std::current_exception();
        return absl::AbortedError("the transaction's function raised an exception");
      }
      return absl::OkStatus();
    });
  }
  if (raised) std::rethrow_exception(raised);
  ThrowIfError(status);
  return result;
}

void Migrate(MetadataStore& self, const std::string& module, const py::iterable& migrations) {
  std::vector<store::Migration> list;
  for (py::handle item : migrations) {
    auto [version, name, sql] = item.cast<std::tuple<int, std::string, std::string>>();
    list.push_back({version, std::move(name), std::move(sql)});
  }
  py::gil_scoped_release release;
  ThrowIfError(self.Migrate(module, list));
}

void BindMetadataStoreAdmin(py::class_<MetadataStore>& cls);
void BindArtifactLookups(py::class_<ArtifactStore>& cls);
void BindArtifactDirectories(py::class_<ArtifactStore>& cls);

void BindMetadataStore(py::module_& m) {
  const store::MetadataStoreOptions defaults;
  py::class_<MetadataStore> cls(
      m, "MetadataStore",
      "The SQLite metadata store ($MLCORE_HOME/mlcore.db by default), in WAL "
      "mode, safe for several processes at once.");
  cls.def(py::init([](std::optional<std::filesystem::path> path, double busy_timeout,
                      bool create_if_missing, bool sync_on_commit) {
            store::MetadataStoreOptions options;
            options.path = PathString(path);
            options.busy_timeout = absl::Seconds(busy_timeout);
            options.create_if_missing = create_if_missing;
            options.sync_on_commit = sync_on_commit;
            py::gil_scoped_release release;
            return Unwrap(MetadataStore::Open(options));
          }),
          py::arg("path") = py::none(),
          py::arg("busy_timeout") = absl::ToDoubleSeconds(defaults.busy_timeout),
          py::arg("create_if_missing") = defaults.create_if_missing,
          py::arg("sync_on_commit") = defaults.sync_on_commit)
      .def_property_readonly("path", &MetadataStore::path)
      .def(
          "execute",
          [](MetadataStore& self, const std::string& sql, const py::iterable& params) {
            std::vector<store::Value> values = ToValues(params);
            std::vector<store::Row> rows;
            {
              py::gil_scoped_release release;
              rows = Unwrap(self.Query(sql, values));
            }
            return ToRows(rows);
          },
          py::arg("sql"), py::arg("params") = py::tuple(),
          "Runs one SQL statement with ?1..?N bound to params; returns its rows as tuples.")
      .def(
          "executescript",
          [](MetadataStore& self, const std::string& sql) {
            py::gil_scoped_release release;
            ThrowIfError(self.Execute(sql));
          },
          py::arg("sql"), "Runs SQL statements that take no parameters.")
      .def("transaction", &RunTransaction, py::arg("fn"),
           "Calls fn() in a write transaction: commits when it returns (passing its result on), "
           "rolls back and re-raises when it raises. Nested calls are savepoints.");
  BindMetadataStoreAdmin(cls);
}

// Migrations, integrity, properties and counters.
void BindMetadataStoreAdmin(py::class_<MetadataStore>& cls) {
  cls.def("migrate", &Migrate, py::arg("module"), py::arg("migrations"),
          "Applies the pending (version, name, sql) migrations of module, each once.")
      .def(
          "schema_version",
          [](MetadataStore& self, const std::string& module) {
            py::gil_scoped_release release;
            return Unwrap(self.SchemaVersion(module));
          },
          py::arg("module"))
      .def(
          "verify",
          [](MetadataStore& self) {
            py::gil_scoped_release release;
            ThrowIfError(self.Verify());
          },
          "Runs SQLite's full integrity check; raises RuntimeError when the file is damaged.")
      .def(
          "get_property",
          [](MetadataStore& self, const std::string& key) {
            py::gil_scoped_release release;
            return Unwrap(self.GetProperty(key));
          },
          py::arg("key"))
      .def(
          "set_property",
          [](MetadataStore& self, const std::string& key, const std::string& value) {
            py::gil_scoped_release release;
            ThrowIfError(self.SetProperty(key, value));
          },
          py::arg("key"), py::arg("value"))
      .def_property_readonly("last_insert_rowid", &MetadataStore::last_insert_rowid)
      .def_property_readonly("changes", &MetadataStore::changes)
      .def("__repr__",
           [](const MetadataStore& self) { return "<MetadataStore " + self.path() + ">"; });
}

void BindArtifactStore(py::module_& m) {
  py::class_<Artifact>(m, "Artifact", "Where a stored artifact lives: digest, size, path, uri.")
      .def_readonly("digest", &Artifact::digest)
      .def_readonly("size", &Artifact::size)
      .def_readonly("path", &Artifact::path)
      .def_property_readonly("uri", &Artifact::uri)
      .def("__eq__",
           [](const Artifact& a, const Artifact& b) {
             return a.digest == b.digest && a.size == b.size && a.path == b.path;
           })
      .def("__repr__", [](const Artifact& a) {
        return "<Artifact sha256:" + a.digest + " " + std::to_string(a.size) + " bytes>";
      });

  const store::ArtifactStoreOptions defaults;
  py::class_<ArtifactStore> cls(
      m, "ArtifactStore",
      "Content-addressed files ($MLCORE_HOME/artifacts by default), named "
      "by the sha256 of their content and written atomically.");
  cls.def(py::init([](std::optional<std::filesystem::path> root, bool create_if_missing, bool sync,
                      std::string remote) {
            store::ArtifactStoreOptions options;
            options.root = PathString(root);
            options.create_if_missing = create_if_missing;
            options.sync = sync;
            options.remote = std::move(remote);
            py::gil_scoped_release release;
            return Unwrap(ArtifactStore::Open(options));
          }),
          py::arg("root") = py::none(), py::arg("create_if_missing") = defaults.create_if_missing,
          py::arg("sync") = defaults.sync, py::arg("remote") = defaults.remote)
      .def_property_readonly("root", &ArtifactStore::root)
      .def_property_readonly(
          "remote",
          [](const ArtifactStore& self) -> std::optional<std::string> {
            if (self.remote() == nullptr) return std::nullopt;
            return self.remote()->url();
          },
          "The remote URL artifacts are also kept at (s3://bucket/prefix), or None.")
      .def(
          "put",
          [](ArtifactStore& self, const py::buffer& data) {
            py::buffer_info info = data.request();
            std::string_view bytes(static_cast<const char*>(info.ptr),
                                   static_cast<size_t>(info.size * info.itemsize));
            py::gil_scoped_release release;
            return Unwrap(self.Put(bytes));
          },
          py::arg("data"), "Stores bytes (any buffer); a no-op when the content is there already.")
      .def(
          "put_file",
          [](ArtifactStore& self, const std::filesystem::path& path) {
            py::gil_scoped_release release;
            return Unwrap(self.PutFile(path.string()));
          },
          py::arg("path"), "Stores a copy of a file, streamed.")
      .def(
          "get",
          [](const ArtifactStore& self, const std::string& digest) {
            std::string content;
            {
              py::gil_scoped_release release;
              content = Unwrap(self.Get(digest));
            }
            return py::bytes(content);
          },
          py::arg("digest"), "The content; KeyError when the store does not hold the digest.")
      .def("__repr__",
           [](const ArtifactStore& self) { return "<ArtifactStore " + self.root() + ">"; });
  BindArtifactLookups(cls);
  BindArtifactDirectories(cls);
}

void BindArtifactLookups(py::class_<ArtifactStore>& cls) {
  cls.def(
         "stat",
         [](const ArtifactStore& self, const std::string& digest) {
           py::gil_scoped_release release;
           return Unwrap(self.Stat(digest));
         },
         py::arg("digest"))
      .def(
          "contains",
          [](const ArtifactStore& self, const std::string& digest) {
            py::gil_scoped_release release;
            return Unwrap(self.Contains(digest));
          },
          py::arg("digest"))
      .def("__contains__",
           [](const ArtifactStore& self, const std::string& digest) {
             py::gil_scoped_release release;
             return Unwrap(self.Contains(digest));
           })
      .def(
          "path_for",
          [](const ArtifactStore& self, const std::string& digest) {
            return Unwrap(self.PathFor(digest));
          },
          py::arg("digest"))
      .def(
          "verify",
          [](const ArtifactStore& self, const std::string& digest) {
            py::gil_scoped_release release;
            ThrowIfError(self.Verify(digest));
          },
          py::arg("digest"), "Recomputes the sha256; RuntimeError when the file was damaged.");
}

// A directory (a saved model) as one artifact: a manifest of its files' digests.
void BindArtifactDirectories(py::class_<ArtifactStore>& cls) {
  cls.def(
         "put_directory",
         [](ArtifactStore& self, const std::filesystem::path& path) {
           py::gil_scoped_release release;
           return Unwrap(self.PutDirectory(path.string()));
         },
         py::arg("path"),
         "Stores every file below a directory, then its manifest; the manifest's Artifact names "
         "the directory (equal trees, equal digests).")
      .def(
          "get_directory",
          [](const ArtifactStore& self, const std::string& digest,
             const std::filesystem::path& dest) {
            py::gil_scoped_release release;
            ThrowIfError(self.GetDirectory(digest, dest.string()));
          },
          py::arg("digest"), py::arg("dest"),
          "Writes the directory to dest (which must not exist), checking every file's sha256.")
      .def(
          "verify_directory",
          [](const ArtifactStore& self, const std::string& digest) {
            py::gil_scoped_release release;
            ThrowIfError(self.VerifyDirectory(digest));
          },
          py::arg("digest"), "Verify of the manifest and of every file it lists.");
}

}  // namespace

void BindStore(py::module_& m) {
  m.def(
      "default_home", [] { return Unwrap(store::DefaultHome()); }, "$MLCORE_HOME, else ~/.mlcore.");
  m.def(
      "sha256_hex",
      [](const py::buffer& data) {
        py::buffer_info info = data.request();
        std::string_view bytes(static_cast<const char*>(info.ptr),
                               static_cast<size_t>(info.size * info.itemsize));
        py::gil_scoped_release release;
        return Unwrap(store::Sha256Hex(bytes));
      },
      py::arg("data"));
  BindMetadataStore(m);
  BindArtifactStore(m);
  m.def(
      "record_artifact",
      [](MetadataStore& metadata, const Artifact& artifact, const std::string& media_type) {
        py::gil_scoped_release release;
        ThrowIfError(store::RecordArtifact(metadata, artifact, media_type));
      },
      py::arg("metadata"), py::arg("artifact"), py::arg("media_type") = "application/octet-stream",
      "Records the artifact in the metadata store's artifacts table.");
}

}  // namespace mlcore::python
