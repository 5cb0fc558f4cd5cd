# MLCORE_SANITIZE: build the library and the tests with compiler sanitizers, for CI's checks
# (`make test-tsan`): "thread" (ThreadSanitizer) or "address;undefined" (AddressSanitizer with
# UndefinedBehaviorSanitizer). They cannot be combined with each other, and a sanitized build
# needs no CUDA (the sanitizers do not see into device code). Frame pointers and -O1 keep the
# reports readable at a cost of about 5-15x in run time (TSan) that CI pays for a test subset.
set(MLCORE_SANITIZE "" CACHE STRING "Sanitizers for the library and tests: thread, or address;undefined")
if(MLCORE_SANITIZE)
  set(_mlcore_known "thread" "address" "undefined")
  foreach(_s IN LISTS MLCORE_SANITIZE)
    if(NOT _s IN_LIST _mlcore_known)
      message(FATAL_ERROR "MLCORE_SANITIZE: unknown sanitizer '${_s}' (thread, address, undefined)")
    endif()
  endforeach()
  if("thread" IN_LIST MLCORE_SANITIZE AND "address" IN_LIST MLCORE_SANITIZE)
    message(FATAL_ERROR "MLCORE_SANITIZE: thread and address cannot be combined")
  endif()
  list(JOIN MLCORE_SANITIZE "," _mlcore_sanitize_list)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_mlcore_sanitize_list}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-g>)
  if("undefined" IN_LIST MLCORE_SANITIZE)
    # A report fails the test instead of scrolling past.
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>)
  endif()
  add_link_options(-fsanitize=${_mlcore_sanitize_list})
  if("thread" IN_LIST MLCORE_SANITIZE)
    # target_clones makes the loader call an ifunc resolver while it relocates libmlcore, before
    # the TSan runtime is up; an instrumented resolver crashes there. The file's math is
    # single-threaded (one call per sampler ask), so leaving it uninstrumented hides no race.
    set_source_files_properties(${PROJECT_SOURCE_DIR}/src/hpo/parzen_estimator.cc
                                PROPERTIES COMPILE_OPTIONS "-fno-sanitize=thread")
  endif()
  message(STATUS "mlcore: sanitizers ${_mlcore_sanitize_list}")
endif()
