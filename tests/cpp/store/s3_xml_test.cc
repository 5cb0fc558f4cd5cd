// The XML reader on the documents S3 sends, and on the malformed ones it must refuse.
#include "store/s3_xml.h"

#include <string>

#include "gtest/gtest.h"

namespace mlcore::store::internal {
namespace {

TEST(S3XmlTest, ReadsAListingPageWithEntitiesAndAToken) {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><IsTruncated>true</IsTruncated>"
      "<Contents><Key>runs/a&amp;b &#x1234;</Key><ETag>&quot;abc&quot;</ETag><Size>12</Size>"
      "</Contents><Contents><Key>z</Key><Size>0</Size></Contents>"
      "<NextContinuationToken>tok+/=</NextContinuationToken></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "runs/a&b \xE1\x88\xB4");
  EXPECT_EQ(page->objects[0].etag, "abc");
  EXPECT_EQ(page->objects[0].size, 12);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "tok+/=");
}

TEST(S3XmlTest, ReadsErrorsAndUploadIds) {
  S3ErrorDocument e = ParseS3Error("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "gone");
  EXPECT_EQ(ParseS3Error("<html>bad gateway</html>").code, "");
  EXPECT_EQ(ParseS3Error("").code, "");
  EXPECT_EQ(ParseUploadId("<InitiateMultipartUploadResult><UploadId>u1</UploadId>"
                          "</InitiateMultipartUploadResult>")
                .value_or(""),
            "u1");
}

TEST(S3XmlTest, RefusesMalformedDocuments) {
  for (const char* bad : {"", "<a>", "<a></b>", "<a>&bogus;</a>", "<a>&#0;</a>", "<a x=1/>",
                          "<a/><b/>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "text",
                          "<a><![CDATA[x</a>", "<a>&#xD800;</a>", "<:/>", "<s3:>x</s3:>"}) {
    EXPECT_FALSE(ParseXml(bad).ok()) << bad;
  }
  std::string deep;
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "<a>";
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "</a>";
  EXPECT_FALSE(ParseXml(deep).ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
                                  "</Contents></ListBucketResult>")
                   .ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>")
                   .ok());
}

}  // namespace
}  // namespace mlcore::store::internal
