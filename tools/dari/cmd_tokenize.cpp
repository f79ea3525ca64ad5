// `dari tokenize`: prints the token ids of a text as a JSON array on one line.
//
//   dari tokenize -m vocab.gguf -p "Hello world"      -> [1,15043,3186]
//   dari tokenize -m model.gguf -f prompt.txt --pieces -> [{"id":1,"piece":"<s>"},...]
//
// BOS/EOS follow the file's metadata (--no-bos suppresses BOS). Special-token text is parsed
// only with --parse-special. Errors: one line on stderr, exit code 1.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "command.h"
#include "dari/tokenizer/tokenizer.h"

namespace {

struct TokenizeArgs {
  std::string model;
  std::string prompt;
  std::string file;
  bool use_stdin = false;
  bool no_bos = false;
  bool pieces = false;
  bool parse_special = false;
  bool prompt_set = false;
};

bool read_input(const TokenizeArgs& a, std::string* text, std::string* err) {
  const int sources = (a.prompt_set ? 1 : 0) + (a.file.empty() ? 0 : 1) + (a.use_stdin ? 1 : 0);
  if (sources != 1) {
    *err = "give exactly one of -p TEXT, -f FILE, --stdin";
    return false;
  }
  if (a.prompt_set) {
    *text = a.prompt;
    return true;
  }
  if (a.use_stdin) {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    *text = ss.str();
    return true;
  }
  std::ifstream in(a.file, std::ios::binary);
  if (!in) {
    *err = a.file + ": cannot open";
    return false;
  }
  text->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    *err = a.file + ": read error";
    return false;
  }
  return true;
}

int run_tokenize(const TokenizeArgs& a) {
  std::string text;
  std::string err;
  if (!read_input(a, &text, &err)) {
    std::fprintf(stderr, "dari tokenize: %s\n", err.c_str());
    return 1;
  }
  auto tok = dari::Tokenizer::open(a.model);
  if (!tok.ok()) {
    std::fprintf(stderr, "dari tokenize: %s\n", tok.message().c_str());
    return 1;
  }
  dari::EncodeOptions opt;
  opt.add_special = true;
  opt.parse_special = a.parse_special;
  if (a.no_bos) opt.add_bos = false;
  const std::vector<dari::TokenId> ids = tok->encode(text, opt);
  nlohmann::json out = nlohmann::json::array();
  for (dari::TokenId id : ids) {
    if (a.pieces) {
      out.push_back({{"id", id}, {"piece", tok->token_to_piece(id, /*render_special=*/true)}});
    } else {
      out.push_back(id);
    }
  }
  // Pieces of byte tokens may be invalid UTF-8 on their own: shown as U+FFFD.
  const std::string line = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

DARI_COMMAND("tokenize", "Print the token ids of a text as a JSON array",
             [](CLI::App& sub) -> std::function<int()> {
               auto args = std::make_shared<TokenizeArgs>();
               sub.add_option("-m,--model", args->model, "GGUF file (model or vocab-only)")
                   ->required();
               sub.add_option_function<std::string>(
                   "-p,--prompt",
                   [args](const std::string& p) {
                     args->prompt = p;
                     args->prompt_set = true;
                   },
                   "Text to tokenize");
               sub.add_option("-f,--file", args->file, "Read the text (raw bytes) from a file");
               sub.add_flag("--stdin", args->use_stdin, "Read the text from standard input");
               sub.add_flag("--no-bos", args->no_bos, "Do not add BOS even if the vocab says so");
               sub.add_flag("--pieces", args->pieces, "Print [{\"id\":..,\"piece\":..}]");
               sub.add_flag("--parse-special", args->parse_special,
                            "Match special-token text (e.g. <|eot_id|>) as special tokens");
               return [args] { return run_tokenize(*args); };
             });
