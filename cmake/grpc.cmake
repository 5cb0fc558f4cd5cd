# The gRPC front end of the server (Open Inference Protocol's inference.GRPCInferenceService), as
# its own shared library libmlcore_grpc. libmlcore stays free of gRPC and protobuf (about 10 MB of
# resident memory once loaded, measured in docs/serving.md): src/serve/grpc_loader.cc, inside
# libmlcore, dlopens libmlcore_grpc from libmlcore's own directory the first time a server asks
# for a gRPC port. Built when Debian's grpc++ and protoc are found (MLCORE_WITH_GRPC=AUTO).
set(MLCORE_WITH_GRPC "AUTO" CACHE STRING "Build the gRPC front end: AUTO (when found), ON, OFF")
set_property(CACHE MLCORE_WITH_GRPC PROPERTY STRINGS AUTO ON OFF)

set(MLCORE_GRPC_ENABLED OFF)
if(NOT MLCORE_WITH_GRPC STREQUAL "OFF")
  find_package(Protobuf QUIET)
  find_package(gRPC CONFIG QUIET)
  find_program(MLCORE_GRPC_CPP_PLUGIN grpc_cpp_plugin)
  if(Protobuf_FOUND AND gRPC_FOUND AND MLCORE_GRPC_CPP_PLUGIN AND Protobuf_PROTOC_EXECUTABLE)
    set(MLCORE_GRPC_ENABLED ON)
  elseif(MLCORE_WITH_GRPC STREQUAL "ON")
    message(FATAL_ERROR "MLCORE_WITH_GRPC=ON but grpc++, protoc or grpc_cpp_plugin is missing "
                        "(Debian: libgrpc++-dev protobuf-compiler-grpc)")
  endif()
endif()

if(MLCORE_GRPC_ENABLED)
  set(_proto ${PROJECT_SOURCE_DIR}/proto/inference.proto)
  set(_gen ${CMAKE_CURRENT_BINARY_DIR}/generated/proto)
  set(_gen_files ${_gen}/inference.pb.cc ${_gen}/inference.pb.h ${_gen}/inference.grpc.pb.cc
                 ${_gen}/inference.grpc.pb.h)
  add_custom_command(
    OUTPUT ${_gen_files}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_gen}
    COMMAND ${Protobuf_PROTOC_EXECUTABLE} --proto_path=${PROJECT_SOURCE_DIR}/proto
            --cpp_out=${_gen} --grpc_out=${_gen}
            --plugin=protoc-gen-grpc=${MLCORE_GRPC_CPP_PLUGIN} ${_proto}
    DEPENDS ${_proto}
    COMMENT "protoc: proto/inference.proto")
  file(GLOB _grpc_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/serve/grpc/*.cc)
  add_library(mlcore_grpc SHARED ${_grpc_sources} ${_gen}/inference.pb.cc
                                 ${_gen}/inference.grpc.pb.cc)
  set_target_properties(mlcore_grpc PROPERTIES VERSION ${PROJECT_VERSION}
                                               SOVERSION ${PROJECT_VERSION_MAJOR}
                                               CXX_VISIBILITY_PRESET hidden
                                               BUILD_RPATH "$ORIGIN" INSTALL_RPATH "$ORIGIN")
  target_include_directories(mlcore_grpc SYSTEM PRIVATE ${_gen})
  target_include_directories(mlcore_grpc PRIVATE ${PROJECT_SOURCE_DIR}/src
                                                 ${CMAKE_CURRENT_BINARY_DIR}/generated)
  target_link_libraries(mlcore_grpc PRIVATE mlcore gRPC::grpc++ protobuf::libprotobuf)
  target_compile_options(mlcore_grpc PRIVATE -Wall -Wextra -Wno-unused-parameter)
  # Nothing links it (it is dlopened), so the programs that may start a gRPC server depend on it.
  foreach(_user mlcore_tests _mlcore mlcore-server)
    if(TARGET ${_user})
      add_dependencies(${_user} mlcore_grpc)
    endif()
  endforeach()
  install(TARGETS mlcore_grpc LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # fuzz/grpc_request_fuzzer.cc (globbed by fuzz/CMakeLists.txt) gets the converter and protobuf.
  if(TARGET grpc_request_fuzzer)
    target_sources(grpc_request_fuzzer PRIVATE ${PROJECT_SOURCE_DIR}/src/serve/grpc/convert.cc
                                               ${_gen}/inference.pb.cc)
    target_include_directories(grpc_request_fuzzer PRIVATE ${PROJECT_SOURCE_DIR}/src ${_gen})
    target_link_libraries(grpc_request_fuzzer PRIVATE gRPC::grpc++ protobuf::libprotobuf)
    # The generated header is made by a rule of this directory, which the fuzzer's (fuzz/) does
    # not wait for on its own: without this, convert.cc can compile before protoc has run.
    add_dependencies(grpc_request_fuzzer mlcore_grpc)
  endif()
  # The server process the Python gRPC tests and benchmark drive with tritonclient.grpc. It links
  # libmlcore alone: the gRPC front end arrives through the loader, as in any program.
  if(MLCORE_BUILD_TESTS)
    add_executable(mlcore_grpc_test_server ${PROJECT_SOURCE_DIR}/tests/cpp/serve/grpc_test_server.cc)
    target_link_libraries(mlcore_grpc_test_server PRIVATE mlcore)
    set_target_properties(mlcore_grpc_test_server PROPERTIES
                          RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/tests)
    add_dependencies(mlcore_grpc_test_server mlcore_grpc)
  endif()
endif()
message(STATUS "mlcore gRPC front end: ${MLCORE_GRPC_ENABLED}")
