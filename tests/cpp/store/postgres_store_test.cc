// The PostgreSQL connection layer against a real server: URL parsing and redaction, value
// round trips, the shared migration mechanism, retried transactions, clear connection errors
// and reconnecting after a server restart.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "store/postgres_test_util.h"

namespace mlcore::store {
namespace {

using testing::PgCluster;

[[maybe_unused]] ::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::PgClusterEnvironment);

TEST(PostgresUrlTest, ParsesTheSqlAlchemyForm) {
  auto u = ParsePostgresUrl(
      "postgresql://ann:p%40ss%3Aword@db.example:6543/studies?sslmode=require"
      "&application_name=w1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->user, "ann");
  EXPECT_EQ(u->password, "p@ss:word");
  EXPECT_EQ(u->host, "db.example");
  EXPECT_EQ(u->port, 6543);
  EXPECT_EQ(u->database, "studies");
  EXPECT_EQ(u->params.at("sslmode"), "require");
  EXPECT_EQ(u->params.at("application_name"), "w1");
  EXPECT_EQ(u->Redacted(),
            "postgresql://ann:***@db.example:6543/studies?application_name=w1&sslmode=require");
  EXPECT_EQ(u->Endpoint(), "db.example:6543");

  auto short_form = ParsePostgresUrl("postgres://localhost/db");
  ASSERT_TRUE(short_form.ok());
  EXPECT_EQ(short_form->host, "localhost");
  EXPECT_EQ(short_form->port, 0);
  EXPECT_EQ(short_form->Endpoint(), "localhost:5432");

  auto socket = ParsePostgresUrl("postgresql://bob@%2Fvar%2Frun%2Fpostgresql/db");
  ASSERT_TRUE(socket.ok());
  EXPECT_EQ(socket->host, "/var/run/postgresql");
  auto v6 = ParsePostgresUrl("postgresql://u:p@[::1]:5433/d");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 5433);
}

TEST(PostgresUrlTest, BadUrlsAreClearAndRedacted) {
  for (const char* bad :
       {"postgresql://u:secret@h:99999/d", "postgresql://u:secret@h:x/d",
        "postgresql://u:secret@h/a/b", "postgresql://u:sec%zzret@h/d", "mysql://u:secret@h/d"}) {
    auto u = ParsePostgresUrl(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(u.status()));
    EXPECT_EQ(u.status().message().find("secret"), std::string::npos) << u.status();
  }
  EXPECT_EQ(RedactPostgresUrl("failed on 'postgres://me:hunter2@h:1/d' and postgresql://x@y/z"),
            "failed on 'postgres://me:***@h:1/d' and postgresql://x@y/z");
  EXPECT_EQ(RedactPostgresUrl("no url here"), "no url here");
}

TEST(PostgresStoreTest, ValuesRoundTrip) {
  MLCORE_REQUIRE_POSTGRES();
  auto store = PostgresStore::Open({.url = PgCluster::Get()->NewDatabase()});
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)
                  ->Execute("CREATE TABLE v (i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA, "
                            "f BOOLEAN)")
                  .ok());
  std::string bytes("\0\x01\xff zero", 8);
  ASSERT_TRUE((*store)
                  ->Query("INSERT INTO v VALUES ($1, $2, $3, $4, $5)",
                          {int64_t{-42}, 0.1, std::string("it's ü"), Blob{bytes}, int64_t{1}})
                  .ok());
  ASSERT_TRUE((*store)
                  ->Query("INSERT INTO v VALUES ($1, $2, $3, $4, $5)",
                          {Value(), Value(), Value(), Value(), Value()})
                  .ok());
  auto rows = (*store)->Query("SELECT i, d, t, b, f FROM v ORDER BY i NULLS LAST");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(std::get<int64_t>((*rows)[0][0]), -42);
  EXPECT_EQ(std::get<double>((*rows)[0][1]), 0.1);  // exactly: shortest round-trip text
  EXPECT_EQ(std::get<std::string>((*rows)[0][2]), "it's ü");
  EXPECT_EQ(std::get<Blob>((*rows)[0][3]).bytes, bytes);
  EXPECT_EQ(std::get<int64_t>((*rows)[0][4]), 1);
  for (const Value& v : (*rows)[1]) EXPECT_TRUE(std::holds_alternative<std::monostate>(v));
  auto dup = (*store)->Execute("CREATE TABLE v (x INT)");
  EXPECT_FALSE(dup.ok());
  EXPECT_NE(dup.message().find("already exists"), std::string::npos) << dup;
}

TEST(PostgresStoreTest, MigrationsRunOnceAcrossConcurrentOpeners) {
  MLCORE_REQUIRE_POSTGRES();
  const std::string url = PgCluster::Get()->NewDatabase();
  const std::vector<Migration> v1 = {
      {1, "create_things", "CREATE TABLE things (id BIGSERIAL PRIMARY KEY, name TEXT);"}};
  std::vector<Migration> v2 = v1;
  v2.push_back({2, "add_size", "ALTER TABLE things ADD COLUMN size BIGINT NOT NULL DEFAULT 0;"});
  {
    auto store = *PostgresStore::Open({.url = url});
    ASSERT_TRUE(store->Migrate("demo", v1).ok());
    ASSERT_TRUE(store->Query("INSERT INTO things(name) VALUES ('old')").ok());
  }
  // Four openers at once bring the older database forward; each migration is applied once.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = PostgresStore::Open({.url = url});
      if (!store.ok() || !(*store)->Migrate("demo", v2).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto store = *PostgresStore::Open({.url = url});
  EXPECT_EQ(*store->SchemaVersion("demo"), 2);
  EXPECT_EQ(*store->SchemaVersion("store"), 2);
  auto rows = *store->Query("SELECT name, size FROM things");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(rows[0][1]), 0);
  auto count = *store->Query("SELECT count(*) FROM schema_migrations WHERE module = 'demo'");
  EXPECT_EQ(std::get<int64_t>(count[0][0]), 2);
  // Opened by an older build that knows only version 1: refused, nothing changed.
  Status older = store->Migrate("demo", v1);
  EXPECT_TRUE(absl::IsFailedPrecondition(older)) << older;
  EXPECT_NE(older.message().find("'demo' has schema version 2, newer than version 1"),
            std::string::npos);
  // A failing migration leaves nothing behind (DDL is transactional).
  std::vector<Migration> v3 = v2;
  v3.push_back({3, "broken", "CREATE TABLE extra (x INT); SELECT no_such_function();"});
  EXPECT_FALSE(store->Migrate("demo", v3).ok());
  EXPECT_EQ(*store->SchemaVersion("demo"), 2);
  EXPECT_TRUE(store->Query("SELECT to_regclass('extra') IS NULL").ok());
  EXPECT_EQ(std::get<int64_t>((*store->Query("SELECT (to_regclass('extra') IS NULL)::int"))[0][0]),
            1);
}

// Two transactions taking two row locks in opposite orders: the server breaks the deadlock by
// failing one, and the store runs that one again, so both commit.
TEST(PostgresStoreTest, DeadlockedTransactionsAreRetried) {
  MLCORE_REQUIRE_POSTGRES();
  const std::string url = PgCluster::Get()->NewDatabase();
  auto store = *PostgresStore::Open({.url = url});
  ASSERT_TRUE(store
                  ->Execute("CREATE TABLE acc (id INT PRIMARY KEY, n INT);"
                            "INSERT INTO acc VALUES (1, 0), (2, 0);")
                  .ok());
  std::atomic<int> runs{0};
  auto transfer = [&](int first, int second) {
    return store->Transaction([&](PostgresSession& s) -> Status {
      ++runs;
      MLCORE_RETURN_IF_ERROR(
          s.Query("UPDATE acc SET n = n + 1 WHERE id = $1", {int64_t{first}}).status());
      absl::SleepFor(absl::Milliseconds(200));
      return s.Query("UPDATE acc SET n = n + 1 WHERE id = $1", {int64_t{second}}).status();
    });
  };
  Status a, b;
  std::thread ta([&] { a = transfer(1, 2); });
  std::thread tb([&] { b = transfer(2, 1); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  EXPECT_GE(runs.load(), 3);  // one of them ran twice
  auto rows = *store->Query("SELECT sum(n)::bigint FROM acc");
  EXPECT_EQ(std::get<int64_t>(rows[0][0]), 4);
}

TEST(PostgresStoreTest, StatementTimeoutIsDeadlineExceeded) {
  MLCORE_REQUIRE_POSTGRES();
  auto store =
      *PostgresStore::Open({.url = PgCluster::Get()->NewDatabase() + "?statement_timeout=200"});
  absl::Time start = absl::Now();
  auto slow = store->Query("SELECT pg_sleep(5)");
  EXPECT_TRUE(absl::IsDeadlineExceeded(slow.status())) << slow.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(PostgresStoreTest, WrongPasswordNamesTheHostAndHidesThePassword) {
  MLCORE_REQUIRE_POSTGRES();
  std::string url = PgCluster::Get()->url();
  std::string wrong = url.replace(url.find(":mlcore-test-secret@"), 20, ":Wr0ngPassw0rd@");
  auto store = PostgresStore::Open({.url = wrong});
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(store.status())) << store.status();
  EXPECT_NE(store.status().message().find("127.0.0.1:"), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find("password authentication failed"), std::string::npos);
  EXPECT_EQ(store.status().message().find("Wr0ngPassw0rd"), std::string::npos) << store.status();
}

TEST(PostgresStoreTest, UnreachableServerFailsPromptlyNamingTheHost) {
  // A closed port: refused at once.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  absl::Time start = absl::Now();
  auto closed =
      PostgresStore::Open({.url = absl::StrCat("postgresql://u:topsecret@127.0.0.1:", port, "/d")});
  ASSERT_FALSE(closed.ok());
  EXPECT_TRUE(absl::IsUnavailable(closed.status())) << closed.status();
  EXPECT_NE(closed.status().message().find(absl::StrCat("127.0.0.1:", port)), std::string::npos)
      << closed.status();
  EXPECT_EQ(closed.status().message().find("topsecret"), std::string::npos);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // A server that accepts the connection and never answers: connect_timeout ends the wait.
  ASSERT_EQ(::listen(fd, 8), 0);
  start = absl::Now();
  auto silent = PostgresStore::Open(
      {.url = absl::StrCat("postgresql://u:topsecret@127.0.0.1:", port, "/d?connect_timeout=1")});
  ASSERT_FALSE(silent.ok());
  EXPECT_TRUE(absl::IsUnavailable(silent.status())) << silent.status();
  EXPECT_NE(silent.status().message().find(absl::StrCat("127.0.0.1:", port)), std::string::npos);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ::close(fd);
}

// The server restarts between two calls and while a call waits: the store reconnects with
// backoff and the calls succeed.
TEST(PostgresStoreTest, ReconnectsAfterAServerRestart) {
  MLCORE_REQUIRE_POSTGRES();
  auto cluster = PgCluster::StartPrivate();
  ASSERT_NE(cluster, nullptr);
  auto store = *PostgresStore::Open({.url = cluster->url()});
  ASSERT_TRUE(store->Execute("CREATE TABLE r (x INT)").ok());
  ASSERT_TRUE(store->Query("INSERT INTO r VALUES (1)").ok());
  const int64_t opened = store->connections_opened();
  ASSERT_TRUE(cluster->Restart().ok());
  auto after = store->Query("INSERT INTO r VALUES (2)");
  EXPECT_TRUE(after.ok()) << after.status();
  EXPECT_GT(store->connections_opened(), opened);
  // Killed (a crash) and started again a moment later, while a transaction is being retried.
  ASSERT_TRUE(cluster->Kill().ok());
  std::thread up([&] {
    absl::SleepFor(absl::Milliseconds(700));
    EXPECT_TRUE(cluster->Up().ok());
  });
  Status during = store->Transaction(
      [](PostgresSession& s) { return s.Query("INSERT INTO r VALUES (3)").status(); });
  up.join();
  EXPECT_TRUE(during.ok()) << during;
  auto rows = *store->Query("SELECT count(*) FROM r");
  EXPECT_EQ(std::get<int64_t>(rows[0][0]), 3);
  // A server gone for good: Unavailable once the reconnect timeout has passed, naming the host.
  auto quick = *PostgresStore::Open({.url = cluster->url() + "?reconnect_timeout=1s"});
  ASSERT_TRUE(cluster->Kill().ok());
  absl::Time start = absl::Now();
  auto gone = quick->Query("SELECT 1");
  EXPECT_TRUE(absl::IsUnavailable(gone.status())) << gone.status();
  EXPECT_NE(gone.status().message().find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ(gone.status().message().find("mlcore-test-secret"), std::string::npos);
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

}  // namespace
}  // namespace mlcore::store
