# mlcore::dist's collectives run on Gloo (Debian: libgloo-dev). Debian's package installs a bare
# /usr/lib/libgloo.so and headers; its CMake export is not relied on (it names a build type
# other packages do not use), so the library is found by hand and linked privately: no public
# mlcore header includes Gloo.
include(${CMAKE_CURRENT_LIST_DIR}/private_system_library.cmake)
mlcore_link_private_system_library(GLOO gloo/config.h gloo libgloo-dev)
