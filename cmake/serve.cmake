# The serving module: Boost.Beast (header-only, Debian's libboost-dev) for the HTTP front end,
# and the standalone `mlcore-server` binary, linked against libmlcore alone (no Python), for
# slim container images.
find_package(Boost 1.74 REQUIRED)
target_link_libraries(mlcore PRIVATE Boost::headers)

add_executable(mlcore-server ${CMAKE_CURRENT_SOURCE_DIR}/tools/mlcore_server.cc)
target_link_libraries(mlcore-server PRIVATE mlcore::mlcore)
set_target_properties(mlcore-server PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
install(TARGETS mlcore-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
