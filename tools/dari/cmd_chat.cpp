// `dari chat`: interactive multi-turn chat on stdin/stdout.
//
// Each input line is one user turn (so a pipe of N lines gives N replies). The whole conversation
// is rendered and tokenized every turn; the engine keeps the KV cache of the sequence, so only the
// part that differs from the previous turn's tokens is prefilled.
//
// Rendering: the model's chat template (tokenizer.chat_template) through the template engine
// when both exist; otherwise the plain fallback
//     [system text "\n\n"] then per message "User: <text>\n" / "Assistant: <text>\n",
//     then "Assistant:" to prompt the reply; "\nUser:" is a stop string.
// Ctrl-C during a reply stops it and returns to the prompt; Ctrl-C at the prompt, or EOF, exits.

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dari/engine/chat.h"
#include "cmd_common.h"
#include "command.h"

namespace dari::cli {
namespace {

struct ChatOptions {
  GenerationCliOptions gen;
  std::string system;
};

// Reads one line from stdin without the newline. False on EOF or interruption (Ctrl-C).
bool read_line(std::string* line) {
  line->clear();
  for (;;) {
    const int c = std::fgetc(stdin);
    if (c == EOF) {
      if (std::ferror(stdin) && errno == EINTR) {
        return false;  // Ctrl-C at the prompt
      }
      return !line->empty();
    }
    if (c == '\n') break;
    line->push_back(static_cast<char>(c));
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

std::string trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\n' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\t' || s[e - 1] == '\r')) {
    --e;
  }
  return s.substr(b, e - b);
}

int chat_main(const ChatOptions& o) {
  std::unique_ptr<Engine> engine = load_engine(o.gen, 1);
  if (!engine) return 1;
  auto seq = engine->create_sequence();
  if (!seq.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", seq.message().c_str());
    return 1;
  }
  ChatFormatter renderer(*engine);
  if (o.gen.verbose) std::fprintf(stderr, "dari: chat format: %s\n", renderer.describe().c_str());
  GenerateOptions g = make_generate_options(o.gen);
  for (const auto& s : renderer.stop_strings()) g.stop.push_back(s);
  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  const bool interactive = isatty(STDIN_FILENO) != 0;
  install_sigint_handler();
  std::string line;
  for (;;) {
    reset_sigint();
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!read_line(&line)) break;
    if (sigint_count() > 0) break;
    messages.push_back({"user", line});
    auto tokens = renderer.tokenize(messages);
    if (!tokens.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", tokens.message().c_str());
      return 1;
    }
    bool first = true;
    auto r = engine->generate(*seq, *tokens, g, [&](const TokenEvent& ev) {
      std::string piece = ev.text;
      if (first && renderer.strip_reply_leading_space()) {
        const size_t nb = piece.find_first_not_of(' ');
        piece.erase(0, nb == std::string::npos ? piece.size() : nb);
        if (!piece.empty()) first = false;
      }
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (!r.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", r.message().c_str());
      messages.pop_back();  // e.g. the conversation no longer fits: drop the turn, keep going
      continue;
    }
    if (o.gen.verbose) print_timings(-1.0, *r);
    messages.push_back({"assistant", trim(r->text)});
  }
  if (interactive) std::fputs("\n", stdout);
  return 0;
}

DARI_COMMAND("chat", "Interactive chat with a model (one user turn per input line)",
             [](CLI::App& sub) -> std::function<int()> {
               auto o = std::make_shared<ChatOptions>();
               add_generation_options(sub, &o->gen);
               sub.add_option("--system", o->system, "system message");
               return [o]() { return chat_main(*o); };
             });

}  // namespace
}  // namespace dari::cli

