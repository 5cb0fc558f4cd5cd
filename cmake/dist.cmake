# mlcore::dist's collectives run on Gloo (Debian: libgloo-dev). Debian's package installs a bare
# /usr/lib/libgloo.so and headers; its CMake export is not relied on (it names a build type
# other packages do not use), so the library is found by hand and linked privately: no public
# mlcore header includes Gloo.
find_path(GLOO_INCLUDE_DIR gloo/config.h)
find_library(GLOO_LIBRARY NAMES gloo)
if(NOT GLOO_INCLUDE_DIR OR NOT GLOO_LIBRARY)
  message(FATAL_ERROR "Gloo not found (gloo/config.h, libgloo.so): install libgloo-dev "
                      "(scripts/install-deps.sh)")
endif()
message(STATUS "Gloo: ${GLOO_LIBRARY}")
target_include_directories(mlcore SYSTEM PRIVATE ${GLOO_INCLUDE_DIR})
target_link_libraries(mlcore PRIVATE ${GLOO_LIBRARY})
