// The HTTP bodies without a socket: V2 JSON (flat and nested, range checks), Triton's binary
// tensor framing both ways, V1 rows, and JSON output of every datatype.
#include "serve/http_codec.h"

#include <gtest/gtest.h>

#include <cstring>

namespace mlcore::serve::internal {
namespace {

TEST(HttpCodecTest, ParsesFlatAndNestedData) {
  auto flat = ParseV2InferRequest(
      R"({"id":"a","inputs":[{"name":"x","shape":[2,2],"datatype":"INT16","data":[1,-2,3,4]}]})",
      -1);
  ASSERT_TRUE(flat.ok()) << flat.status();
  auto nested = ParseV2InferRequest(
      R"({"id":"a","inputs":[{"name":"x","shape":[2,2],"datatype":"INT16","data":[[1,-2],[3,4]]}]})",
      -1);
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(flat->inputs[0].data, nested->inputs[0].data);
  EXPECT_EQ(flat->inputs[0].data.size(), 8u);
  EXPECT_EQ(flat->id, "a");
  for (const char* bad :
       {R"({"inputs":[{"name":"x","shape":[2],"datatype":"UINT8","data":[1,256]}]})",
        R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]})",
        R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})",
        R"({"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]})",
        R"({"inputs":[{"name":"x","shape":[1],"datatype":"X","data":[1]}]})",
        R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},
                      {"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
        R"({"inputs":{}})", "[]", "{"}) {
    EXPECT_EQ(ParseV2InferRequest(bad, -1).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(HttpCodecTest, BinaryFramingBothWays) {
  std::string header =
      R"({"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},)"
      R"({"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]})";
  float values[2] = {1.5f, -2.0f};
  std::string body = header + std::string(reinterpret_cast<char*>(values), 8);
  uint32_t n = 2;
  body += std::string(reinterpret_cast<char*>(&n), 4) + "hi";
  auto request = ParseV2InferRequest(body, static_cast<int64_t>(header.size()));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(*request->inputs[1].BytesElements(), std::vector<std::string_view>{"hi"});
  EXPECT_FALSE(ParseV2InferRequest(body + "x", static_cast<int64_t>(header.size())).ok());
  EXPECT_FALSE(ParseV2InferRequest(body, static_cast<int64_t>(body.size()) + 1).ok());
  EXPECT_FALSE(
      ParseV2InferRequest(body.substr(0, body.size() - 1), static_cast<int64_t>(header.size()))
          .ok());

  InferResponse response;
  response.model_name = "m";
  response.model_version = "1";
  response.outputs = request->inputs;
  response.outputs[0].binary = true;
  int64_t json_length = 0;
  auto encoded = EncodeV2InferResponse(response, &json_length);
  ASSERT_TRUE(encoded.ok());
  ASSERT_GT(json_length, 0);
  EXPECT_EQ(encoded->substr(json_length), response.outputs[0].data);
  EXPECT_NE(encoded->substr(0, json_length).find(R"("binary_data_size":8)"), std::string::npos);
  EXPECT_NE(encoded->find(R"("data":["hi"])"), std::string::npos);
  // Not UTF-8 and not asked for in binary: refused rather than sent as broken JSON.
  response.outputs[1].data.back() = '\xff';
  EXPECT_FALSE(EncodeV2InferResponse(response, &json_length).ok());
}

TEST(HttpCodecTest, V1RowsTakeTheSignaturesDatatype) {
  ModelMetadata meta;
  meta.name = "m";
  meta.inputs = {{"input", DataType::kFP32, {-1, 2}}};
  auto request = ParseV1PredictRequest(R"({"instances": [[1, 2], [3, 4], [5, 6]]})", meta);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->inputs[0].shape, (Dims{3, 2}));
  EXPECT_FALSE(ParseV1PredictRequest(R"({"instances": [[1, 2], [3]]})", meta).ok());
  EXPECT_FALSE(ParseV1PredictRequest(R"({"instances": {"nope": [[1]]}})", meta).ok());
  InferResponse response;
  response.outputs = request->inputs;
  EXPECT_EQ(*EncodeV1PredictResponse(response), R"({"predictions":[[1,2],[3,4],[5,6]]})");
}

}  // namespace
}  // namespace mlcore::serve::internal
