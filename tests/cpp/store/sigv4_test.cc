// The signer against the published AWS Signature Version 4 test suite (the 2015 suite: key
// AKIDEXAMPLE, region us-east-1, service "service", x-amz-date 20150830T123600Z) and the worked
// GET Object example of the S3 API reference. Expected canonical requests, string-to-sign
// hashes and signatures are the values those documents publish.
#include "store/sigv4.h"

#include <string>

#include "gtest/gtest.h"

namespace mlcore::store::internal {
namespace {

constexpr char kDate[] = "20150830T123600Z";
constexpr char kEmptyHash[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SigV4Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

SigV4Signature SignSuite(const SigV4Request& request) {
  auto signed_request = SignV4(request, kSuite, "us-east-1", "service", kDate);
  EXPECT_TRUE(signed_request.ok()) << signed_request.status();
  return signed_request.value_or(SigV4Signature{});
}

SigV4Request SuiteGet(const std::string& path) {
  return {"GET", path, {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}}, kEmptyHash};
}

std::string StringToSign(const std::string& canonical_hash) {
  return std::string(
             "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n") +
         canonical_hash;
}

// Signs `request` with the suite's key: the canonical request, its hash in the string to sign
// and the signature must be the ones the suite publishes.
void ExpectSuiteVector(const SigV4Request& request, const std::string& canonical_request,
                       const std::string& canonical_hash, const std::string& signature) {
  SigV4Signature s = SignSuite(request);
  EXPECT_EQ(s.canonical_request, canonical_request);
  EXPECT_EQ(s.string_to_sign, StringToSign(canonical_hash));
  EXPECT_EQ(s.signature, signature);
}

TEST(SigV4Test, GetVanilla) {
  SigV4Signature s = SignSuite(SuiteGet("/"));
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            StringToSign("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"));
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, GetVanillaQueryOrderKeyCase) {
  SigV4Request request = SuiteGet("/");
  request.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  ExpectSuiteVector(request,
                    "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
                    "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
                    "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, GetUtf8EncodesThePathOnce) {
  SigV4Signature s = SignSuite(SuiteGet("/\xE1\x88\xB4"));  // U+1234
  EXPECT_EQ(s.canonical_request,
            "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.signature, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

TEST(SigV4Test, GetSpace) {
  ExpectSuiteVector(
      SuiteGet("/example space/"),
      "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
      "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
      "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
}

TEST(SigV4Test, PostXWwwFormUrlencodedSignsTheBodyHash) {
  auto body_hash = Sha256HexOf("Param1=value1");
  ASSERT_TRUE(body_hash.ok());
  EXPECT_EQ(*body_hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  SigV4Request request{"POST",
                       "/",
                       {},
                       {{"Content-Type", "application/x-www-form-urlencoded"},
                        {"Host", "example.amazonaws.com"},
                        {"X-Amz-Date", kDate}},
                       *body_hash};
  ExpectSuiteVector(request,
                    "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
                    "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                    "content-type;host;x-amz-date\n"
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                    "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
                    "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndCollapsed) {
  SigV4Request request = SuiteGet("/");
  request.headers.emplace_back("My-Header1", " value1 ");
  request.headers.emplace_back("My-Header2", " \"a   b   c\" ");
  SigV4Signature s = SignSuite(request);
  EXPECT_NE(s.canonical_request.find("my-header1:value1\nmy-header2:\"a b c\"\n"),
            std::string::npos)
      << s.canonical_request;
  EXPECT_EQ(s.signed_headers, "host;my-header1;my-header2;x-amz-date");
}

// The S3 API reference's GET Object example (examplebucket, bytes 0-9 of test.txt).
TEST(SigV4Test, S3GetObjectExample) {
  const SigV4Credentials credentials{"AKIAIOSFODNN7EXAMPLE",
                                     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  SigV4Request request{"GET",
                       "/test.txt",
                       {},
                       {{"Host", "examplebucket.s3.amazonaws.com"},
                        {"Range", "bytes=0-9"},
                        {"x-amz-content-sha256", kEmptyHash},
                        {"x-amz-date", "20130524T000000Z"}},
                       kEmptyHash};
  auto s = SignV4(request, credentials, "us-east-1", "s3", "20130524T000000Z");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, EncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(UriEncode("a b/c~d+e=f", true), "a%20b/c~d%2Be%3Df");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(
      CanonicalQuery({{"prefix", "runs/"}, {"list-type", "2"}, {"continuation-token", "x+y="}}),
      "continuation-token=x%2By%3D&list-type=2&prefix=runs%2F");
}

TEST(SigV4Test, MalformedDateIsRefused) {
  auto s = SignV4(SuiteGet("/"), kSuite, "us-east-1", "service", "2015-08-30");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mlcore::store::internal
