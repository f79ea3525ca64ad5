#include <gtest/gtest.h>
#include <sys/stat.h>

#include "trust/internal.h"
#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::fresh_dir;
using testing::slurp;

ProvenanceFacts facts() {
  return ProvenanceFacts{"dari-tiny", std::string(64, 'a'), "req-1", 1764385200};
}

TEST(Crypto, Sha256AndBase64KnownValues) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff", 2)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(base64_decode("abc").ok());
}

TEST(Crypto, FileHashStreams) {
  std::string dir = fresh_dir();
  std::string big(3 << 20, 'x');  // more than one 1 MiB read
  testing::spit(dir + "/m.bin", big);
  auto h = sha256_file_hex(dir + "/m.bin");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, sha256_hex(big));
  EXPECT_FALSE(sha256_file_hex(dir + "/none").ok());
}

TEST(Crypto, KeySavedWith0600AndNeverOverwritten) {
  std::string dir = fresh_dir();
  auto k = SigningKey::generate();
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(k->save(dir + "/op.key").ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/op.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(k->save(dir + "/op.key").ok());
  auto again = SigningKey::load(dir + "/op.key");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->public_key_base64(), k->public_key_base64());
  EXPECT_EQ(again->key_id().size(), 16u);
  for (std::string src : {dir + "/op.key.pub", dir + "/op.key", k->public_key_base64()}) {
    auto pub = load_public_key_base64(src);
    ASSERT_TRUE(pub.ok()) << pub.message();
    EXPECT_EQ(*pub, k->public_key_base64());
  }
}

TEST(Provenance, CanonicalFormIsSortedCompactJson) {
  Provenance p;
  p.facts = facts();
  p.operator_name = "op";
  p.deployment_id = "dep";
  p.output_sha256 = "h";
  p.key_id = "k";
  p.public_key = "pk";
  EXPECT_EQ(canonical_provenance(p),
            "{\"ai_generated\":true,\"created\":1764385200,\"deployment_id\":\"dep\","
            "\"generator\":\"dari\",\"key_id\":\"k\",\"model\":\"dari-tiny\",\"model_sha256\":\"" +
                std::string(64, 'a') +
                "\",\"operator\":\"op\",\"output_sha256\":\"h\",\"public_key\":\"pk\","
                "\"request_id\":\"req-1\",\"version\":\"dari-provenance/1\"}");
}

TEST(Provenance, IntactAcceptedAndEveryOneCharacterChangeRejected) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  std::string text = "안녕하세요, hello world.";
  Provenance p = sign_provenance(*key, facts(), "operator", "dep-1", text);
  VerifyOutcome ok = verify_provenance(p, text, key->public_key_base64());
  EXPECT_TRUE(ok.intact) << ok.reason;
  EXPECT_TRUE(ok.key_trusted);
  EXPECT_TRUE(verify_provenance(p, text, "").intact);
  EXPECT_FALSE(verify_provenance(p, text, "").key_trusted);
  // One changed character anywhere in the text.
  for (size_t i = 0; i < text.size(); ++i) {
    std::string t = text;
    t[i] = static_cast<char>(t[i] ^ 1);
    EXPECT_FALSE(verify_provenance(p, t, key->public_key_base64()).intact) << i;
  }
  // One changed character in any signed field of the JSON.
  std::string json = provenance_to_json(p);
  auto back = provenance_from_json(json);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_TRUE(verify_provenance(*back, text, "").intact);
  int rejected = 0, parsed = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    std::string j = json;
    if (j[i] == '"' || j[i] == ':' || j[i] == ',' || j[i] == '{' || j[i] == '}') continue;
    j[i] = j[i] == 'a' ? 'b' : 'a';
    auto q = provenance_from_json(j);
    if (!q.ok()) continue;
    ++parsed;
    if (!verify_provenance(*q, text, key->public_key_base64()).intact) ++rejected;
  }
  EXPECT_GT(parsed, 100);
  EXPECT_EQ(rejected, parsed);
  // Another key's signature is not the trusted one's.
  auto other = SigningKey::generate();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(verify_provenance(p, text, other->public_key_base64()).intact);
}

TEST(Provenance, HeadersDecodeToJson) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  Provenance p = sign_provenance(*key, facts(), "op", "dep", "x");
  auto decoded = base64_decode(provenance_header(p));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, provenance_to_json(p));
  auto stub = base64_decode(stream_header(facts(), "op", "dep"));
  ASSERT_TRUE(stub.ok());
  EXPECT_NE(stub->find("\"signed_in\":\"final_chunk\""), std::string::npos);
  EXPECT_NE(stub->find("\"request_id\":\"req-1\""), std::string::npos);
  EXPECT_EQ(kAiGeneratedHeader, "X-AI-Generated");
}

TEST(Provenance, ExtractsSavedResponses) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key.ok());
  Provenance p = sign_provenance(*key, facts(), "op", "dep", "Hello there");
  std::string prov = provenance_to_json(p);
  std::string chat =
      "{\"id\":\"req-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"}}],"
      "\"provenance\":" +
      prov + "}";
  auto c = extract_saved_response(chat);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->first, "Hello there");
  EXPECT_TRUE(verify_provenance(c->second, c->first, "").intact);
  std::string completion = "{\"choices\":[{\"text\":\"Hello there\"}],\"provenance\":" + prov + "}";
  auto d = extract_saved_response(completion);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(verify_provenance(d->second, d->first, "").intact);
  std::string sse =
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\" there\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"provenance\":" +
      prov + "}\n\ndata: [DONE]\n\n";
  auto s = extract_saved_response(sse);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->first, "Hello there");
  EXPECT_TRUE(verify_provenance(s->second, s->first, "").intact);
  EXPECT_FALSE(extract_saved_response("{\"choices\":[{\"text\":\"x\"}]}").ok());
  EXPECT_FALSE(extract_saved_response("nothing here").ok());
}

}  // namespace
}  // namespace dari::trust
