#include "dari/tokenizer/detokenizer.h"

#include "dari/core/strings.h"
#include "tokenizer/utf8.h"

namespace dari {

std::string take_complete_utf8(std::string* buffer, bool final) {
  const std::string_view s = *buffer;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t len = tok::valid_utf8_len(s, pos);
    if (len > 0) {
      out.append(s.substr(pos, len));
      pos += len;
      continue;
    }
    const std::string_view rest = s.substr(pos);
    if (tok::incomplete_utf8_tail(rest) == rest.size()) {  // may still be completed
      if (!final) break;
      pos = s.size();
    } else {
      pos += 1;
    }
    tok::append_utf8(tok::kReplacementChar, &out);
  }
  buffer->erase(0, pos);
  return out;
}

IncrementalDecoder::IncrementalDecoder(Tokenizer tokenizer, DecodeOptions options)
    : tokenizer_(std::move(tokenizer)), options_(options) {}

Result<std::string> IncrementalDecoder::push(TokenId id) {
  if (id < 0 || static_cast<size_t>(id) >= tokenizer_.n_tokens()) {
    return make_error(str_format("detokenizer: token id %d is out of range [0, %zu)", id,
                                 tokenizer_.n_tokens()));
  }
  std::string piece = tokenizer_.token_to_piece(id, options_.render_special);
  if (piece.empty()) return std::string();
  if (first_piece_ && options_.strip_leading_space && tokenizer_.add_space_prefix() &&
      piece[0] == ' ') {
    piece.erase(0, 1);
  }
  first_piece_ = false;
  pending_ += piece;
  return take_complete_utf8(&pending_, false);
}

std::string IncrementalDecoder::flush() { return take_complete_utf8(&pending_, true); }

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) stops_.push_back(std::move(s));
}

StopResult StopMatcher::push(std::string_view chunk) {
  StopResult r;
  if (stopped_) {
    r.stopped = true;
    r.stop_index = stop_index_;
    return r;
  }
  held_.append(chunk);
  size_t best = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) continue;
    const size_t at = held_.find(stops_[i]);
    if (at < best) {
      best = at;
      stop_index_ = i;
    }
  }
  if (best != std::string::npos) {
    stopped_ = true;
    r.text = held_.substr(0, best);
    r.stopped = true;
    r.stop_index = stop_index_;
    held_.clear();
    return r;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    const size_t max_k = std::min(s.size() - (s.empty() ? 0 : 1), held_.size());
    for (size_t k = max_k; k > hold; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  r.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return r;
}

std::string StopMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(held_);
  return out;
}

}  // namespace dari
