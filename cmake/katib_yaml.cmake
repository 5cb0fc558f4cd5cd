# Katib Experiment YAML is read in C++ (src/hpo/katib_yaml.cc) with yaml-cpp (Debian's
# libyaml-cpp-dev). Private: no public header includes it.
find_package(yaml-cpp REQUIRED)
target_link_libraries(mlcore PRIVATE yaml-cpp)
