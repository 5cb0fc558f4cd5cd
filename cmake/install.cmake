# Installs the library, its public headers and a CMake package config, so that an application
# can say find_package(mlcore REQUIRED) and target_link_libraries(app mlcore::mlcore).
include(CMakePackageConfigHelpers)
install(TARGETS mlcore EXPORT mlcoreTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/mlcore DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT mlcoreTargets NAMESPACE mlcore:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mlcore)
configure_package_config_file(cmake/mlcoreConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/mlcoreConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mlcore)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mlcoreConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mlcoreConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/mlcoreConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mlcore)

# Installed binaries and the installed library find libmlcore beside them (lib/ next to bin/)
# without LD_LIBRARY_PATH. Set before the targets that install executables are created.
set(CMAKE_INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
set_target_properties(mlcore PROPERTIES INSTALL_RPATH "$ORIGIN")

# mlcore.pc for builds without CMake. Its Requires are the pkg-config names of the Abseil
# targets mlcore::mlcore links publicly (Debian ships a .pc for each).
set(MLCORE_PC_REQUIRES "absl_status absl_statusor absl_strings absl_str_format \
absl_synchronization absl_flat_hash_map absl_span absl_time")
file(RELATIVE_PATH MLCORE_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(cmake/mlcore.pc.in ${CMAKE_CURRENT_BINARY_DIR}/mlcore.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mlcore.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
