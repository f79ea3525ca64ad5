// ChoiceState: the per-choice end-of-generation rules shared by Engine and ServingCore.
#include "engine/choice_state.h"

#include <utility>

namespace dari {

ChoiceState::ChoiceState(ChoiceOptions opts)
    : eog_(opts.eog),
      ignore_eog_(opts.ignore_eog),
      max_new_(opts.max_tokens < 0 ? SIZE_MAX : static_cast<size_t>(opts.max_tokens)),
      prompt_tokens_(opts.prompt_tokens),
      n_ctx_(opts.n_ctx),
      cancel_(opts.cancel),
      stop_(std::move(opts.stop)) {
  if (opts.tokenizer != nullptr) {
    // A continuation: no special-token text, and leading spaces are kept.
    DecodeOptions d;
    d.render_special = opts.render_special;
    decoder_.emplace(*opts.tokenizer, d);
    matcher_.emplace(stop_);
  }
}

bool ChoiceState::is_eog(int32_t token) const {
  return token >= 0 && static_cast<size_t>(token) < eog_.size() &&
         eog_[static_cast<size_t>(token)] != 0;
}

bool ChoiceState::length_reached() const {
  // 64-bit sum: prompt_tokens_ + generated_ cannot wrap.
  return generated_ >= max_new_ || uint64_t{prompt_tokens_} + generated_ >= n_ctx_;
}

Result<ChoiceStep> ChoiceState::push(int32_t token) {
  DARI_CHECK(!finished_);
  ++generated_;
  ChoiceStep step;
  if (!ignore_eog_ && is_eog(token)) {
    step.finish = FinishReason::kStop;
  } else if (decoder_) {
    DARI_ASSIGN_OR_RETURN(std::string piece, decoder_->push(token));
    StopResult sr = matcher_->push(piece);
    step.text = std::move(sr.text);
    if (sr.stopped) {
      step.finish = FinishReason::kStop;
      step.stop_string = stop_[sr.stop_index];
    }
  }
  if (step.finish == FinishReason::kNone) {
    if (length_reached()) {
      step.finish = FinishReason::kLength;
    } else if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed)) {
      step.finish = FinishReason::kCancelled;
    }
  }
  // Stop strings are non-empty, so an empty stop_string means the ending was not a string.
  if (step.finish != FinishReason::kNone && step.stop_string.empty()) flush_into(&step);
  finished_ = step.finish != FinishReason::kNone;
  return step;
}

void ChoiceState::flush_into(ChoiceStep* step) {
  if (!decoder_) return;
  StopResult tail = matcher_->push(decoder_->flush());
  step->text += tail.text;
  if (tail.stopped) {
    step->finish = FinishReason::kStop;
    step->stop_string = stop_[tail.stop_index];
  } else {
    step->text += matcher_->flush();
  }
}

}  // namespace dari
