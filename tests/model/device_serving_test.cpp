// The serving engine on a device that runs out of memory mid-service (the fake device of
// fake_device.h with its limit lowered after start-up): the request whose batch cannot grow the
// device scratch ends with a clear error, and the engine keeps serving the next requests.
#include <gtest/gtest.h>

#include "dari/engine/serving.h"
#include "model/fake_device.h"

namespace dari {
namespace {

struct Outcome {
  std::vector<int32_t> tokens;
  std::string error;
};

Outcome run(ServingEngine& e, std::vector<int32_t> prompt, int32_t max_tokens) {
  ServingRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.max_tokens = max_tokens;
  SubmitResult sr = e.submit(std::move(r));
  Outcome o;
  if (sr.error != SubmitError::kNone) {
    o.error = "submit: " + sr.message;
    return o;
  }
  std::vector<StreamEvent> evs;
  while (sr.stream->wait(std::chrono::milliseconds(50), &evs)) {
  }
  for (const StreamEvent& ev : evs) {
    if (ev.kind == StreamEvent::Kind::kToken) o.tokens.push_back(ev.token.token);
    if (ev.kind == StreamEvent::Kind::kError) o.error = ev.error;
  }
  return o;
}

TEST(DeviceServing, OutOfDeviceMemoryFailsOneRequestAndServingGoesOn) {
  test::register_fake_device({});
  ServingOptions so;
  so.model_path = std::string(DARI_SOURCE_DIR) + "/tests/data/models/stories260K.gguf";
  so.backend = "fakedev";
  so.n_ctx = 256;
  so.n_threads = 1;
  auto started = ServingEngine::start(so);
  ASSERT_TRUE(started.ok()) << started.message();
  ServingEngine& e = **started;
  const std::vector<int32_t> short_prompt = {1, 403, 407, 261, 378};
  const Outcome before = run(e, short_prompt, 8);
  ASSERT_TRUE(before.error.empty()) << before.error;
  ASSERT_EQ(before.tokens.size(), 8u);

  // The device is now nearly full: a 200-token prompt needs a larger scratch than any step so far.
  test::FakeDeviceConfig tight;
  tight.memory_limit = test::fake_device_stats().allocated + 1024;
  test::set_fake_device_config(tight);
  std::vector<int32_t> long_prompt(200, 300);
  long_prompt[0] = 1;
  const Outcome failed = run(e, long_prompt, 4);
  EXPECT_TRUE(failed.tokens.empty());
  EXPECT_NE(failed.error.find("out of device memory"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("fakedev"), std::string::npos) << failed.error;

  // Short requests still fit the scratch already there: served, with the same tokens as before.
  const Outcome after = run(e, short_prompt, 8);
  EXPECT_TRUE(after.error.empty()) << after.error;
  EXPECT_EQ(after.tokens, before.tokens);
  test::set_fake_device_config({});
  const Outcome recovered = run(e, long_prompt, 4);
  EXPECT_TRUE(recovered.error.empty()) << recovered.error;
  EXPECT_EQ(recovered.tokens.size(), 4u);
  e.shutdown(false);
}

}  // namespace
}  // namespace dari
