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
