# Every C++ snippet of README.md and docs/*.md, gathered by scripts/doc_snippets.py into one
# program built against the library: a doc that stops compiling fails the build (and the
# doc_snippets test, which runs the program: it checks that snippets were found, and runs none).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
file(GLOB MLCORE_DOC_PAGES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
set(MLCORE_DOC_SOURCES ${PROJECT_SOURCE_DIR}/README.md ${MLCORE_DOC_PAGES})
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/doc_snippets.cc
  COMMAND Python3::Interpreter ${PROJECT_SOURCE_DIR}/scripts/doc_snippets.py
          ${CMAKE_CURRENT_BINARY_DIR}/doc_snippets.cc ${MLCORE_DOC_SOURCES}
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  DEPENDS ${PROJECT_SOURCE_DIR}/scripts/doc_snippets.py ${MLCORE_DOC_SOURCES}
  COMMENT "Gathering the C++ snippets of the docs")
add_executable(doc_snippets ${CMAKE_CURRENT_BINARY_DIR}/doc_snippets.cc)
target_link_libraries(doc_snippets PRIVATE mlcore::mlcore)
target_compile_options(doc_snippets PRIVATE -Wall -Werror -Wno-unused-variable
                                            -Wno-unused-but-set-variable)
add_test(NAME doc_snippets COMMAND doc_snippets)
