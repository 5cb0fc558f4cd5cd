# The store on PostgreSQL (src/store/postgres*, src/hpo/postgres_storage*) talks to the server
# through libpq (Debian: libpq-dev), found by hand like Gloo and linked privately: no public
# mlcore header includes libpq-fe.h.
find_path(LIBPQ_INCLUDE_DIR libpq-fe.h PATH_SUFFIXES postgresql)
find_library(LIBPQ_LIBRARY NAMES pq)
if(NOT LIBPQ_INCLUDE_DIR OR NOT LIBPQ_LIBRARY)
  message(FATAL_ERROR "libpq not found (libpq-fe.h, libpq.so): install libpq-dev "
                      "(scripts/install-deps.sh)")
endif()
message(STATUS "libpq: ${LIBPQ_LIBRARY}")
target_include_directories(mlcore SYSTEM PRIVATE ${LIBPQ_INCLUDE_DIR})
target_link_libraries(mlcore PRIVATE ${LIBPQ_LIBRARY})
