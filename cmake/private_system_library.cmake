# mlcore_link_private_system_library(PREFIX HEADER LIBRARY PACKAGE [PATH_SUFFIXES ...]):
# finds a system library that ships a header and a shared library but no CMake export mlcore can
# rely on (Debian's libgloo-dev, libpq-dev), stops the configure naming the Debian package when
# it is missing, and links it into mlcore privately (no public mlcore header includes it).
# Sets <PREFIX>_INCLUDE_DIR and <PREFIX>_LIBRARY in the cache, as find_path/find_library do.
include_guard(GLOBAL)

function(mlcore_link_private_system_library prefix header library package)
  cmake_parse_arguments(PARSE_ARGV 4 arg "" "" "PATH_SUFFIXES")
  find_path(${prefix}_INCLUDE_DIR ${header} PATH_SUFFIXES ${arg_PATH_SUFFIXES})
  find_library(${prefix}_LIBRARY NAMES ${library})
  if(NOT ${prefix}_INCLUDE_DIR OR NOT ${prefix}_LIBRARY)
    message(FATAL_ERROR "${prefix} not found (${header}, lib${library}.so): install ${package} "
                        "(scripts/install-deps.sh)")
  endif()
  message(STATUS "${prefix}: ${${prefix}_LIBRARY}")
  target_include_directories(mlcore SYSTEM PRIVATE ${${prefix}_INCLUDE_DIR})
  target_link_libraries(mlcore PRIVATE ${${prefix}_LIBRARY})
endfunction()
