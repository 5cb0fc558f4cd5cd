# Decides whether the CUDA kernels are built (MLCORE_WITH_CUDA=AUTO|ON|OFF) and how they link.
# The runtime is linked statically so that a CUDA build imports on a machine with no driver:
# libcudart_static loads libcuda.so lazily and reports "no driver" as an error code we handle.
# cuBLAS(Lt), cuDNN and NCCL are not linked at all: only their headers are needed here, and
# src/core/cuda_libs.cc dlopen's them on first GPU use (a CPU-only process never maps them).
set(MLCORE_CUDA_ENABLED OFF)
string(TOUPPER "${MLCORE_WITH_CUDA}" _mlcore_cuda_mode)
if(NOT _mlcore_cuda_mode STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(MLCORE_CUDA_ENABLED ON)
  elseif(_mlcore_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "MLCORE_WITH_CUDA=ON but no CUDA compiler (nvcc) was found")
  else()
    message(STATUS "mlcore: nvcc not found, building without CUDA")
  endif()
endif()

if(MLCORE_CUDA_ENABLED)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)
  endif()
  enable_language(CUDA)
  # CMake 3.25 knows no C++20 flag for nvcc and refuses CUDA_STANDARD 20; nvcc 12+ accepts it.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
  find_package(CUDAToolkit REQUIRED)
  find_path(MLCORE_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  find_path(MLCORE_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  # Where the loader looks last, after MLCORE_CUDA_LIB_DIR and the dynamic linker's own path:
  # the toolkit's library folder, and cuDNN's and NCCL's when they live elsewhere.
  set(MLCORE_CUDA_LIBRARY_DIRS ${CUDAToolkit_LIBRARY_DIR})
  foreach(_lib cudnn nccl)
    find_library(MLCORE_${_lib}_LIBRARY_FILE ${_lib} HINTS ${CUDAToolkit_LIBRARY_DIR})
    if(MLCORE_${_lib}_LIBRARY_FILE)
      get_filename_component(_dir ${MLCORE_${_lib}_LIBRARY_FILE} DIRECTORY)
      list(APPEND MLCORE_CUDA_LIBRARY_DIRS ${_dir})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES MLCORE_CUDA_LIBRARY_DIRS)
  string(REPLACE ";" ":" MLCORE_CUDA_LIBRARY_DIRS "${MLCORE_CUDA_LIBRARY_DIRS}")
endif()

function(mlcore_add_cuda_sources target)
  file(GLOB _cu CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/*/*.cu)
  target_sources(${target} PRIVATE ${_cu})
  target_compile_definitions(${target} PRIVATE MLCORE_WITH_CUDA=1)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-fPIC>)
  target_include_directories(${target} SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_link_libraries(${target} PRIVATE CUDA::cudart_static)
  # No RUNPATH into the toolkit (CUDA's imported targets would add one): libmlcore links only
  # system libraries, and the CUDA libraries are found by the loader's own search.
  set_target_properties(${target} PROPERTIES SKIP_BUILD_RPATH ON)
  # A kernel calling a cuBLAS/cuDNN function that has no forwarder in src/core/cuda_libs_*.cc
  # fails here, at the library's link, rather than when a program loads it.
  target_link_options(${target} PRIVATE LINKER:--no-undefined)
  if(MLCORE_CUDNN_INCLUDE_DIR)
    target_include_directories(${target} PRIVATE ${MLCORE_CUDNN_INCLUDE_DIR})
    target_compile_definitions(${target} PRIVATE MLCORE_HAVE_CUDNN=1)
  endif()
  if(MLCORE_NCCL_INCLUDE_DIR)
    target_include_directories(${target} PRIVATE ${MLCORE_NCCL_INCLUDE_DIR})
    target_compile_definitions(${target} PRIVATE MLCORE_HAVE_NCCL_HEADERS=1)
  endif()
  # The cuBLAS/cuDNN forwarders stay inside libmlcore: exported, they would take the calls of
  # another copy of cuBLAS in the same process (PyTorch's, an application's).
  set_source_files_properties(${PROJECT_SOURCE_DIR}/src/core/cuda_libs_cublas.cc
                              ${PROJECT_SOURCE_DIR}/src/core/cuda_libs_cudnn.cc
                              PROPERTIES COMPILE_OPTIONS -fvisibility=hidden)
endfunction()
