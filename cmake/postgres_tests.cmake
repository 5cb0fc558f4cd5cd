# The ctest fixture of the PostgreSQL tests: one throwaway cluster (scripts/pg-test-cluster.sh)
# for the whole run in <build>/tests/pg-cluster, so each test process only creates a database.
# Where the server binaries are absent the setup does nothing and the tests skip.
set(MLCORE_PG_CLUSTER_DIR ${CMAKE_CURRENT_BINARY_DIR}/pg-cluster)
set(MLCORE_PG_SCRIPT ${PROJECT_SOURCE_DIR}/scripts/pg-test-cluster.sh)
# The test binary finds the script through this file (a compile definition would rebuild every
# test file).
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/pg-cluster-script ${MLCORE_PG_SCRIPT})
add_test(NAME pg_cluster_start
         COMMAND bash -c "bash '${MLCORE_PG_SCRIPT}' stop '${MLCORE_PG_CLUSTER_DIR}'; \
bash '${MLCORE_PG_SCRIPT}' bindir >/dev/null 2>&1 || exit 0; \
bash '${MLCORE_PG_SCRIPT}' start '${MLCORE_PG_CLUSTER_DIR}'")
add_test(NAME pg_cluster_stop COMMAND bash ${MLCORE_PG_SCRIPT} stop ${MLCORE_PG_CLUSTER_DIR})
set_tests_properties(pg_cluster_start PROPERTIES FIXTURES_SETUP mlcore_pg_cluster TIMEOUT 120)
set_tests_properties(pg_cluster_stop PROPERTIES FIXTURES_CLEANUP mlcore_pg_cluster TIMEOUT 120)
