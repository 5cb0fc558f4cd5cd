// S3Client against moto's S3 server (put/get/head/list/delete, multipart, streaming) and against
// scripted 127.0.0.1 servers for the failures: retried 5xx, exhausted retries, a dead endpoint,
// 403 and 404 without retries, and a server that stores other bytes than were sent.
#include "mlcore/store/s3_client.h"

#include <string>

#include "gtest/gtest.h"
#include "store/s3_test_util.h"
#include "store/store_test_util.h"

// In the helpers' namespace, which they need no using-declarations for.
namespace mlcore::store::testing {
namespace {

TEST(S3ClientTest, PutGetHeadListDelete) {
  SKIP_WITHOUT_MOTO();
  auto s3 = MotoClient();
  ASSERT_TRUE(s3->CreateBucket("roundtrip").ok());
  ASSERT_TRUE(s3->CreateBucket("roundtrip").ok());  // already ours: fine
  const std::string key = "data/a key with spaces+plus/\xE1\x88\xB4.txt";
  ASSERT_TRUE(s3->Put("roundtrip", key, "hello s3").ok());
  ASSERT_TRUE(s3->Put("roundtrip", "data/empty", "").ok());
  EXPECT_EQ(s3->Get("roundtrip", key).value_or(""), "hello s3");
  EXPECT_EQ(s3->Get("roundtrip", "data/empty").value_or("x"), "");
  auto head = s3->Head("roundtrip", key);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->size, 8);
  EXPECT_EQ(head->etag.size(), 32u);
  EXPECT_TRUE(s3->Exists("roundtrip", key).value_or(false));
  EXPECT_FALSE(s3->Exists("roundtrip", "data/nothing").value_or(true));

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s3->Put("roundtrip", "many/" + std::to_string(i), std::string(i, 'x')).ok());
  }
  // Two keys a page: three pages, joined by continuation tokens.
  auto listed = s3->List("roundtrip", "many/", 2);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*listed)[i].key, "many/" + std::to_string(i));
    EXPECT_EQ((*listed)[i].size, i);
  }
  ASSERT_TRUE(s3->Delete("roundtrip", "many/3").ok());
  ASSERT_TRUE(s3->Delete("roundtrip", "many/3").ok());  // already gone: fine, as in S3
  EXPECT_EQ(s3->List("roundtrip", "many/").value_or(std::vector<S3Object>{}).size(), 4u);
}

TEST(S3ClientTest, LargeFilesGoUpAsCheckedMultipartUploadsAndStreamBack) {
  SKIP_WITHOUT_MOTO();
  S3Options small_parts;
  small_parts.multipart_threshold = 5 << 20;
  small_parts.part_size = 5 << 20;
  auto s3 = MotoClient(small_parts);
  ASSERT_TRUE(s3->CreateBucket("multipart").ok());
  ScratchDir dir;
  std::string data(11 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) ^ (i >> 9));
  WriteAll(dir.Join("big"), data);
  Status put = s3->PutFile("multipart", "big.bin", dir.Join("big"));
  ASSERT_TRUE(put.ok()) << put;
  auto head = s3->Head("multipart", "big.bin");
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->size, static_cast<int64_t>(data.size()));
  EXPECT_NE(head->etag.find("-3"), std::string::npos) << head->etag;  // three parts
  auto got = s3->GetToFile("multipart", "big.bin", dir.Join("back"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, static_cast<int64_t>(data.size()));
  EXPECT_TRUE(ReadAll(dir.Join("back")) == data);
}

TEST(S3ClientTest, MissingKeysAndBucketsAreNotFoundNamingThem) {
  SKIP_WITHOUT_MOTO();
  auto s3 = MotoClient();
  ASSERT_TRUE(s3->CreateBucket("present").ok());
  auto missing = s3->Get("present", "no/such/key");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("s3://present/no/such/key"), std::string::npos)
      << missing.status();
  EXPECT_NE(missing.status().message().find("NoSuchKey"), std::string::npos) << missing.status();
  auto no_bucket = s3->Put("absent-bucket", "k", "v");
  EXPECT_EQ(no_bucket.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(no_bucket.message().find("bucket 'absent-bucket' does not exist"), std::string::npos)
      << no_bucket;
}

S3Options Scripted(const ScriptedHttpServer& server, int attempts = 4) {
  S3Options o = testing::MotoOptions(server.port());
  o.max_attempts = attempts;
  return o;
}

TEST(S3ClientTest, A500IsRetriedAndThenSucceeds) {
  ScriptedHttpServer server({{500, ErrorDocument("InternalError", "try again")},
                             {200, "", "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n"}});
  auto s3 = S3Client::Open(Scripted(server));
  ASSERT_TRUE(s3.ok());
  Status put = (*s3)->Put("bucket", "key", "hello");  // md5("hello") is the ETag above
  EXPECT_TRUE(put.ok()) << put;
  EXPECT_EQ(server.requests(), 2);
}

TEST(S3ClientTest, RetriesEndAfterTheAttemptsWithAClearError) {
  ScriptedHttpServer server({{503, ErrorDocument("SlowDown", "Please reduce your request rate.")}});
  auto s3 = S3Client::Open(Scripted(server, 3));
  ASSERT_TRUE(s3.ok());
  Status put = (*s3)->Put("my-bucket", "runs/model.bin", "bytes");
  EXPECT_EQ(put.code(), absl::StatusCode::kUnavailable);
  for (const char* part : {"s3://my-bucket/runs/model.bin", "HTTP 503", "SlowDown",
                           "after 3 attempts", "Please reduce your request rate."}) {
    EXPECT_NE(put.message().find(part), std::string::npos) << part << " not in " << put;
  }
  EXPECT_EQ(server.requests(), 3);
}

TEST(S3ClientTest, RetriesStopWhenTheRetryBudgetIsSpent) {
  ScriptedHttpServer server({{500, ""}});
  S3Options o = Scripted(server, 1000);
  o.initial_backoff = absl::Milliseconds(50);
  o.retry_budget = absl::Milliseconds(300);
  auto s3 = S3Client::Open(o);
  ASSERT_TRUE(s3.ok());
  const absl::Time start = absl::Now();
  EXPECT_EQ((*s3)->Get("b-1", "k").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_LT(server.requests(), 1000);
}

TEST(S3ClientTest, ADeadEndpointFailsNamingBucketAndKey) {
  int port = 0;
  {
    ScriptedHttpServer closed({{200, ""}});
    port = closed.port();
  }  // nothing listens there now
  S3Options o = testing::MotoOptions(port);
  auto s3 = S3Client::Open(o);
  ASSERT_TRUE(s3.ok());
  Status put = (*s3)->Put("down-bucket", "a/b", "x");
  EXPECT_EQ(put.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(put.message().find("s3://down-bucket/a/b"), std::string::npos) << put;
  EXPECT_NE(put.message().find("after 3 attempts"), std::string::npos) << put;
}

TEST(S3ClientTest, ForbiddenAndMissingAreNotRetried) {
  ScriptedHttpServer forbidden({{403, ErrorDocument("AccessDenied", "Access Denied")}});
  auto s3 = S3Client::Open(Scripted(forbidden));
  ASSERT_TRUE(s3.ok());
  Status put = (*s3)->Put("locked", "k", "v");
  EXPECT_EQ(put.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(put.message().find("HTTP 403 AccessDenied"), std::string::npos) << put;
  EXPECT_NE(put.message().find("AWS_ACCESS_KEY_ID"), std::string::npos) << put;
  EXPECT_EQ(forbidden.requests(), 1);

  ScriptedHttpServer missing({{404, ErrorDocument("NoSuchBucket", "gone")}});
  auto s3b = S3Client::Open(Scripted(missing));
  ASSERT_TRUE(s3b.ok());
  EXPECT_EQ((*s3b)->Get("gone", "k").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.requests(), 1);
}

TEST(S3ClientTest, AnETagThatIsNotTheSentMd5IsDataLoss) {
  ScriptedHttpServer liar({{200, "", "ETag: \"00000000000000000000000000000000\"\r\n"}});
  auto s3 = S3Client::Open(Scripted(liar));
  ASSERT_TRUE(s3.ok());
  Status put = (*s3)->Put("bucket", "key", "hello");
  EXPECT_EQ(put.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(put.message().find("5d41402abc4b2a76b9719d911017c592"), std::string::npos) << put;
}

TEST(S3ClientTest, OptionsComeFromTheAwsEnvironment) {
  testing::ScopedEnv endpoint("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9/");
  testing::ScopedEnv generic("AWS_ENDPOINT_URL", "http://127.0.0.1:8");
  testing::ScopedEnv region("AWS_REGION", "eu-west-3");
  testing::ScopedEnv key("AWS_ACCESS_KEY_ID", "id");
  testing::ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "secret");
  auto s3 = S3Client::Open();
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_EQ((*s3)->endpoint(), "http://127.0.0.1:9");
  EXPECT_EQ((*s3)->region(), "eu-west-3");
  testing::ScopedEnv no_key("AWS_ACCESS_KEY_ID", "");
  EXPECT_EQ(S3Client::Open().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(S3ClientTest, S3UrlsSplitIntoBucketAndPrefix) {
  auto l = ParseS3Url("s3://my-bucket/datasets/digits/");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->bucket, "my-bucket");
  EXPECT_EQ(l->prefix, "datasets/digits");
  EXPECT_EQ(ParseS3Url("s3://only-bucket")->prefix, "");
  EXPECT_FALSE(ParseS3Url("gs://b/p").ok());
  EXPECT_FALSE(ParseS3Url("s3://UPPER/p").ok());
  EXPECT_FALSE(ParseS3Url("s3:///p").ok());
}

}  // namespace
}  // namespace mlcore::store::testing
