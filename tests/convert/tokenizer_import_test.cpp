#include "dari/convert/tokenizer_import.h"

#include <gtest/gtest.h>

#include "convert/hf_fixture.h"
#include "dari/io/gguf.h"

namespace dari {
namespace {

using test::SpPiece;

Result<TokenizerMetadata> import_sp(const std::string& bytes) {
  return import_sentencepiece(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.model");
}

TEST(SentencePieceImport, ReadsPiecesScoresTypesAndSpecs) {
  std::vector<SpPiece> pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3},        {"</s>", 0, 3},
                                 {"<0x41>", 0, 6}, {"\xe2\x96\x81hi", -1.5f, 1},
                                 {"<tool>", 0, 4}, {"unused", 0, 5}};
  auto md = import_sp(test::make_sentencepiece(pieces, 0, 1, 2, -1, false));
  ASSERT_TRUE(md.ok()) << md.message();
  EXPECT_EQ(md->model, "llama");
  ASSERT_EQ(md->tokens.size(), 7u);
  EXPECT_EQ(md->tokens[4], "\xe2\x96\x81hi");
  EXPECT_FLOAT_EQ(md->scores[4], -1.5f);
  EXPECT_EQ(md->token_types, (std::vector<int32_t>{2, 3, 3, 6, 1, 4, 5}));
  EXPECT_EQ(md->unk_id, 0u);
  EXPECT_EQ(md->bos_id, 1u);
  EXPECT_EQ(md->eos_id, 2u);
  EXPECT_FALSE(md->pad_id.has_value());  // -1 on the wire (10-byte varint)
  EXPECT_EQ(md->add_space_prefix, false);

  auto md2 = import_sp(test::make_sentencepiece(pieces, 0, 5, 6, 3, true));
  ASSERT_TRUE(md2.ok()) << md2.message();
  EXPECT_EQ(md2->bos_id, 5u);
  EXPECT_EQ(md2->pad_id, 3u);
  EXPECT_EQ(md2->add_space_prefix, true);
}

TEST(SentencePieceImport, MalformedProtobufIsAnError) {
  std::string good = test::make_sentencepiece({{"<unk>", 0, 2}, {"a", 0, 1}}, 0, 1, 2, -1, true);
  // Every strict prefix either fails cleanly or parses fewer fields; never crashes.
  for (size_t n = 0; n < good.size(); ++n) (void)import_sp(good.substr(0, n));
  struct Case {
    std::string bytes;
    const char* expect;
  };
  test::ProtoWriter bad_type_piece;
  bad_type_piece.bytes_field(1, "a");
  bad_type_piece.varint_field(3, 9);
  test::ProtoWriter bad_type;
  bad_type.bytes_field(1, bad_type_piece.data());
  std::vector<Case> cases = {
      {"", "no pieces"},
      {std::string("\x0a\x05\x0a\x01", 4), "runs past the end"},          // length 5, 2 present
      {std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), "malformed field"},
      {std::string("\x0b", 1), "malformed field"},                           // group wire type
      {std::string("\x0a\x02\x0a", 3), "runs past the end"},
      {bad_type.data(), "unknown type 9"},
      {std::string("\x0a\x03\x0a\x05\x61", 5), "truncated piece string"},
  };
  for (const auto& c : cases) {
    auto r = import_sp(c.bytes);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_NE(r.message().find(c.expect), std::string::npos) << r.message();
    EXPECT_EQ(r.message().rfind("t.model", 0), 0u) << r.message();
  }
}

TEST(TokenizerJsonImport, BpeVocabMergesAddedTokensAndPre) {
  auto md = import_tokenizer_json(test::make_bpe_tokenizer_json(30), "tok.json", "llama");
  ASSERT_TRUE(md.ok()) << md.message();
  EXPECT_EQ(md->model, "gpt2");
  EXPECT_EQ(md->pre, "llama-bpe");
  ASSERT_EQ(md->tokens.size(), 30u);
  EXPECT_EQ(md->tokens[0], "a");
  EXPECT_EQ(md->tokens[27], "ba");
  EXPECT_EQ(md->tokens[28], "<|endoftext|>");
  EXPECT_EQ(md->token_types[0], kTokenNormal);
  EXPECT_EQ(md->token_types[28], kTokenControl);
  EXPECT_EQ(md->token_types[29], kTokenUserDefined);
  EXPECT_EQ(md->merges, (std::vector<std::string>{"a a", "b a"}));
  EXPECT_TRUE(md->scores.empty());

  auto q = import_tokenizer_json(test::make_bpe_tokenizer_json(30), "tok.json", "qwen2");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->pre, "qwen2");
  auto plain = import_tokenizer_json(
      R"({"model": {"type": "BPE", "vocab": {"x": 0, "y": 2}, "merges": []}})", "t", "llama");
  ASSERT_TRUE(plain.ok()) << plain.message();
  EXPECT_EQ(plain->pre, "default");
  EXPECT_EQ(plain->tokens[1], "[PAD1]");  // hole in the id space
  EXPECT_EQ(plain->token_types[1], kTokenUnused);
}

TEST(TokenizerJsonImport, Errors) {
  const char* bad[] = {
      R"({"model": {"type": "WordPiece", "vocab": {}}})",
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}})",
      R"({"model": {"type": "BPE", "vocab": {"a": -1}}})",
      R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}}})",
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]}})",
      R"({"model": {"type": "BPE", "vocab": {}}})",
      R"({"model": 1})",
      R"([1)",
  };
  for (const char* b : bad) {
    auto r = import_tokenizer_json(b, "tok.json", "llama");
    ASSERT_FALSE(r.ok()) << b;
    EXPECT_EQ(r.message().rfind("tok.json: ", 0), 0u) << r.message();
  }
}

TEST(TokenizerConfig, SpecialTokensFlagsAndTemplate) {
  auto md = import_tokenizer_json(test::make_bpe_tokenizer_json(30), "tok.json", "llama");
  ASSERT_TRUE(md.ok());
  ASSERT_TRUE(apply_tokenizer_config(
                  R"({"bos_token": {"content": "<|endoftext|>"}, "eos_token": "<|endoftext|>",
                      "pad_token": "b", "add_bos_token": true, "add_eos_token": false,
                      "chat_template": [{"name": "tool_use", "template": "T"},
                                        {"name": "default", "template": "D"}],
                      "added_tokens_decoder": {"2": {"content": "c", "special": true},
                                               "3": {"content": "zz", "special": true}}})",
                  "cfg.json", &*md)
                  .ok());
  EXPECT_EQ(md->bos_id, 28u);
  EXPECT_EQ(md->eos_id, 28u);
  EXPECT_EQ(md->pad_id, 1u);
  EXPECT_EQ(md->add_bos, true);
  EXPECT_EQ(md->add_eos, false);
  EXPECT_EQ(md->chat_template, "D");
  EXPECT_EQ(md->token_types[2], kTokenControl);
  EXPECT_EQ(md->token_types[3], kTokenNormal);  // content does not match: untouched
  EXPECT_FALSE(apply_tokenizer_config(R"({"add_bos_token": "yes"})", "cfg.json", &*md).ok());

  ASSERT_TRUE(pad_vocab(&*md, 33).ok());
  EXPECT_EQ(md->tokens.size(), 33u);
  EXPECT_EQ(md->tokens[32], "[PAD32]");
  EXPECT_EQ(md->token_types[32], kTokenUnused);
  EXPECT_FALSE(pad_vocab(&*md, 10).ok());
}

TEST(TokenizerMetadataWrite, KeysRoundTripThroughGguf) {
  auto md = import_sp(test::make_sentencepiece({{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3},
                                                {"x", -2, 1}},
                                               0, 1, 2, -1, true));
  ASSERT_TRUE(md.ok());
  md->chat_template = "{{ hi }}";
  md->add_bos = true;
  GgufWriter w;
  write_tokenizer_metadata(*md, &w);
  auto bytes = w.to_bytes();
  ASSERT_TRUE(bytes.ok()) << bytes.message();
  auto g = GgufFile::parse(bytes->data(), bytes->size());
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(*g->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(g->get_string_array("tokenizer.ggml.tokens")->at(3), "x");
  EXPECT_EQ(g->get_f32_array("tokenizer.ggml.scores")->at(3), -2.0f);
  EXPECT_EQ(*g->get_i32_array("tokenizer.ggml.token_type"), (std::vector<int32_t>{2, 3, 3, 1}));
  EXPECT_EQ(*g->get_u32("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*g->get_u32("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(*g->get_u32("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_FALSE(g->has("tokenizer.ggml.padding_token_id"));
  EXPECT_EQ(*g->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(*g->get_bool("tokenizer.ggml.add_space_prefix"), true);
  EXPECT_EQ(*g->get_string("tokenizer.chat_template"), "{{ hi }}");
  EXPECT_FALSE(g->has("tokenizer.ggml.merges"));
}

}  // namespace
}  // namespace dari
