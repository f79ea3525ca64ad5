// Streaming detokenization: an incremental per-request decoder that only ever emits complete
// UTF-8, and a stop-string matcher that works across token boundaries.
//
// Ownership: IncrementalDecoder keeps a copy of the Tokenizer (a shared pointer). Thread safety:
// one object per request, used by one thread at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"
#include "dari/tokenizer/tokenizer.h"

namespace dari {

class IncrementalDecoder {
 public:
  IncrementalDecoder(Tokenizer tokenizer, DecodeOptions options);

  // Adds one token; returns the text that became complete (possibly ""). Bytes of an incomplete
  // UTF-8 character are held until the next tokens complete it. Bytes that can never form a
  // valid character are emitted as U+FFFD. An id outside the vocabulary is an Error and leaves
  // the decoder unchanged (the caller decides whether to stop or skip it).
  Result<std::string> push(TokenId id);
  // End of stream: returns the held bytes, an incomplete tail replaced by one U+FFFD.
  std::string flush();
  // Bytes held back so far (an incomplete UTF-8 sequence, at most 3 bytes).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  Tokenizer tokenizer_;
  DecodeOptions options_;
  bool first_piece_ = true;
  std::string pending_;
};

// Takes the valid-UTF-8 prefix of `*buffer` (replacing invalid bytes with U+FFFD) and leaves an
// incomplete trailing sequence in it. With `final`, the incomplete tail becomes one U+FFFD.
std::string take_complete_utf8(std::string* buffer, bool final);

struct StopResult {
  std::string text;      // text that is safe to emit now (before any stop string)
  bool stopped = false;  // a stop string was found; nothing after it may be emitted
  size_t stop_index = 0; // which stop string (index into the constructor's list) when stopped
};

// Finds the first occurrence of any stop string in a stream of text chunks. Text that could be
// the start of a stop string is held back until it is known not to be one.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends a chunk. After a stop has been reported every later push returns an empty result
  // with stopped = true.
  StopResult push(std::string_view chunk);
  // End of stream without a stop: returns the held-back text.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  size_t stop_index_ = 0;
};

}  // namespace dari
