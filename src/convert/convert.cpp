// HF checkpoint -> GGUF: tensor plan (names, expected shapes, permutation), per-tensor encoding,
// metadata. Tensor names and metadata keys follow llama.cpp's converter.
#include "dari/convert/convert.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "convert/json_util.h"
#include "dari/convert/safetensors.h"
#include "dari/convert/tokenizer_import.h"
#include "dari/core/checked.h"
#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

// One output tensor: where it comes from and what shape (HF order, slowest first) it must have.
struct PlanItem {
  std::string gguf;
  std::string hf;
  std::vector<uint64_t> shape;
  uint32_t permute_heads = 0;  // >0: apply permute_qk_rows with this many heads
  bool output_like = false;    // token_embd / output (quantization rule)
  bool required = true;
};

struct LayerEntry {
  const char* hf;    // suffix after "model.layers.N."
  const char* gguf;  // suffix after "blk.N."
};

constexpr LayerEntry kLayerEntries[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

// Expected HF shape, permutation and requiredness of one per-layer entry.
PlanItem layer_item(const HfConfig& c, uint32_t layer, const LayerEntry& e) {
  const uint64_t E = c.n_embd, F = c.n_ff, hd = c.head_dim;
  const uint64_t q_rows = uint64_t{c.n_head} * hd, kv_rows = uint64_t{c.n_head_kv} * hd;
  const bool llama = c.arch == "llama";
  PlanItem it;
  it.hf = str_format("model.layers.%u.%s", layer, e.hf);
  it.gguf = str_format("blk.%u.%s", layer, e.gguf);
  std::string_view g = e.gguf;
  bool bias = g.size() > 5 && g.substr(g.size() - 5) == ".bias";
  if (g.rfind("attn_q.", 0) == 0) {
    it.shape = bias ? std::vector<uint64_t>{q_rows} : std::vector<uint64_t>{q_rows, E};
    if (llama) it.permute_heads = c.n_head;
  } else if (g.rfind("attn_k.", 0) == 0 || g.rfind("attn_v.", 0) == 0) {
    it.shape = bias ? std::vector<uint64_t>{kv_rows} : std::vector<uint64_t>{kv_rows, E};
    if (llama && g[5] == 'k') it.permute_heads = c.n_head_kv;
  } else if (g.rfind("attn_output.", 0) == 0) {
    it.shape = bias ? std::vector<uint64_t>{E} : std::vector<uint64_t>{E, q_rows};
  } else if (g == "attn_q_norm.weight" || g == "attn_k_norm.weight") {
    it.shape = {hd};
  } else if (g == "ffn_gate.weight" || g == "ffn_up.weight") {
    it.shape = {F, E};
  } else if (g == "ffn_down.weight") {
    it.shape = {E, F};
  } else {
    it.shape = {E};  // norms
  }
  if (bias) {
    // qwen2 always has q/k/v biases; others may (llama attention_bias) but need not.
    it.required = c.arch == "qwen2" && g.rfind("attn_output", 0) != 0;
  } else if (g == "attn_q_norm.weight" || g == "attn_k_norm.weight") {
    it.required = c.arch == "qwen3";
  }
  return it;
}

std::vector<PlanItem> build_plan(const HfConfig& c, const SafetensorsCheckpoint& ck) {
  std::vector<PlanItem> plan;
  const uint64_t V = c.n_vocab, E = c.n_embd;
  plan.push_back({"token_embd.weight", "model.embed_tokens.weight", {V, E}, 0, true, true});
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    for (const auto& e : kLayerEntries) {
      PlanItem it = layer_item(c, l, e);
      if (it.required || ck.find(it.hf) != nullptr) plan.push_back(std::move(it));
    }
  }
  plan.push_back({"output_norm.weight", "model.norm.weight", {E}, 0, false, true});
  // Tied (or no lm_head at all): the model reuses token_embd, as llama.cpp's loader does.
  if (!c.tie_embeddings && ck.find("lm_head.weight") != nullptr) {
    plan.push_back({"output.weight", "lm_head.weight", {V, E}, 0, true, true});
  }
  return plan;
}

std::string shape_text(const std::vector<uint64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(s[i]);
  }
  return out + "]";
}

// Every checkpoint tensor must be used (or be a known leftover), else the mapping is incomplete.
Status check_all_mapped(const std::vector<PlanItem>& plan, const SafetensorsCheckpoint& ck,
                        const HfConfig& c) {
  std::set<std::string, std::less<>> used;
  for (const auto& p : plan) used.insert(p.hf);
  for (const auto* t : ck.tensors()) {
    if (used.count(t->name) != 0) continue;
    if (t->name.find("rotary_emb.inv_freq") != std::string::npos) continue;
    if (t->name == "lm_head.weight") continue;  // tied: duplicate of the embedding
    return make_error(ck.file_of(t->name) + ": tensor '" + printable(t->name) +
                      "' has no GGUF mapping for architecture " + c.arch +
                      " (layer index beyond num_hidden_layers, or an unsupported weight)");
  }
  return Status::Ok();
}

GgmlType choose_type(const PlanItem& p, GgmlType target) {
  if (p.shape.size() < 2) return GgmlType::F32;
  if (target == GgmlType::F32 || target == GgmlType::F16 || target == GgmlType::BF16) return target;
  GgmlTypeInfo info = ggml_type_info(target);
  if (p.output_like && info.block_bytes < info.block_elems) {
    target = GgmlType::Q8_0;  // fewer than 8 bits per weight
    info = ggml_type_info(target);
  }
  if (p.shape.back() % info.block_elems != 0) return GgmlType::F16;  // llama.cpp's fallback
  return target;
}

// Encodes rows x ne0 floats into `type`. Row length must suit the type (choose_type ensures it).
Result<std::vector<uint8_t>> encode(const std::vector<float>& f, GgmlType type, uint64_t ne0,
                                    uint64_t rows) {
  auto row_bytes = ggml_row_bytes(type, ne0);
  uint64_t total = 0;
  if (!row_bytes || !checked_mul(*row_bytes, rows, &total)) {
    return make_error("tensor byte size overflows");
  }
  std::vector<uint8_t> out(total);
  const uint64_t n = f.size();
  if (type == GgmlType::F32) {
    if (n != 0) std::memcpy(out.data(), f.data(), n * sizeof(float));  // no null memcpy
  } else if (type == GgmlType::F16 || type == GgmlType::BF16) {
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h = type == GgmlType::F16 ? fp32_to_fp16(f[i]) : fp32_to_bf16(f[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  } else {
    const TypeTraits* tr = type_traits(type);
    if (tr == nullptr || tr->from_float == nullptr) {
      return make_error(std::string("no quantizer for ") + std::string(ggml_type_name(type)));
    }
    for (uint64_t r = 0; r < rows; ++r) {
      tr->from_float(f.data() + r * ne0, out.data() + r * *row_bytes, static_cast<int64_t>(ne0));
    }
  }
  return out;
}

// One output tensor after validation: its type and exact byte size in the file.
struct Planned {
  const PlanItem* item = nullptr;  // null for generated tensors (rope_freqs)
  std::string gguf;
  GgmlType type = GgmlType::F32;
  std::vector<uint64_t> ne;  // GGUF dims, fastest first
  uint64_t n_bytes = 0;
};

// Validates the source tensor (present, shape from config.json, convertible dtype) and fixes the
// output type, before anything is written.
Result<Planned> plan_tensor(const PlanItem& p, const SafetensorsCheckpoint& ck, GgmlType target) {
  const SafetensorsTensor* t = ck.find(p.hf);
  if (t == nullptr) return make_error("checkpoint has no tensor '" + p.hf + "'");
  const std::string where = ck.file_of(p.hf) + ": tensor '" + p.hf + "': ";
  if (t->shape != p.shape) {
    return make_error(where + "shape " + shape_text(t->shape) + ", expected " +
                      shape_text(p.shape) + " from config.json");
  }
  if (t->dtype != SafetensorsDtype::kF32 && t->dtype != SafetensorsDtype::kF16 &&
      t->dtype != SafetensorsDtype::kBF16) {
    return make_error(where + "dtype " + std::string(safetensors_dtype_name(t->dtype)) +
                      " is not supported for conversion (only F32, F16 and BF16)");
  }
  Planned pl;
  pl.item = &p;
  pl.gguf = p.gguf;
  pl.type = choose_type(p, target);
  const uint64_t rows = p.shape.size() == 2 ? p.shape[0] : 1;
  const uint64_t ne0 = p.shape.back();
  pl.ne = p.shape.size() == 2 ? std::vector<uint64_t>{ne0, rows} : std::vector<uint64_t>{ne0};
  auto row_bytes = ggml_row_bytes(pl.type, ne0);
  if (!row_bytes || !checked_mul(*row_bytes, rows, &pl.n_bytes)) {
    return make_error(where + "output byte size overflows");
  }
  return pl;
}

// Decodes, permutes (llama Q/K) and encodes one planned tensor. Holds one tensor in memory.
Result<std::vector<uint8_t>> encode_tensor(const Planned& pl, const SafetensorsCheckpoint& ck) {
  const PlanItem& p = *pl.item;
  const SafetensorsTensor* t = ck.find(p.hf);
  const std::string where = ck.file_of(p.hf) + ": tensor '" + p.hf + "': ";
  std::vector<float> f(t->n_elements);
  Status st = safetensors_to_f32(*t, f.data());
  if (!st.ok()) return make_error(ck.file_of(p.hf) + ": " + st.message());
  const uint64_t ne0 = pl.ne[0];
  const uint64_t rows = pl.ne.size() == 2 ? pl.ne[1] : 1;
  if (p.permute_heads != 0) {
    std::vector<float> perm(f.size());
    // Matrices move whole rows; bias vectors move single elements.
    Status ps = pl.ne.size() == 2
                    ? permute_qk_rows(f.data(), perm.data(), rows, ne0, p.permute_heads)
                    : permute_qk_rows(f.data(), perm.data(), ne0, 1, p.permute_heads);
    if (!ps.ok()) return make_error(where + ps.message());
    f.swap(perm);
  }
  auto bytes = encode(f, pl.type, ne0, rows);
  if (!bytes.ok()) return make_error(where + bytes.message());
  if (bytes->size() != pl.n_bytes) return make_error(where + "encoded size mismatch");
  return bytes;
}

// The output file, written under a temporary name and renamed over the target by commit();
// removed if never committed. Owned by one thread.
class OutFile {
 public:
  explicit OutFile(std::string path)
      : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {}
  ~OutFile() {
    if (f_ != nullptr) std::fclose(f_);
    if (!committed_) std::remove(tmp_.c_str());
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;

  Status open() {
    f_ = std::fopen(tmp_.c_str(), "wb");
    if (f_ == nullptr) return make_error(tmp_ + ": cannot create: " + std::strerror(errno));
    return Status::Ok();
  }
  Status write(const void* data, uint64_t n) {
    if (n != 0 && std::fwrite(data, 1, n, f_) != n) return make_error(tmp_ + ": write failed");
    written_ += n;
    return Status::Ok();
  }
  // Zero padding up to a multiple of align (<= 64).
  Status pad_to(uint64_t align) {
    static const uint8_t kZeros[64] = {};
    uint64_t rem = written_ % align;
    return rem == 0 ? Status::Ok() : write(kZeros, align - rem);
  }
  uint64_t written() const { return written_; }
  Status commit() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) return make_error(tmp_ + ": write failed on close");
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      return make_error(path_ + ": cannot rename from " + tmp_ + ": " + std::strerror(errno));
    }
    committed_ = true;
    return Status::Ok();
  }

 private:
  std::string path_, tmp_;
  FILE* f_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

void write_model_metadata(const HfConfig& c, const std::string& name, GgmlType type,
                          GgufWriter* w) {
  const std::string& a = c.arch;
  w->set_string("general.architecture", a);
  w->set_string("general.name", name);
  w->set_u32("general.file_type", gguf_file_type(type));
  w->set_u32("general.quantization_version", 2);
  w->set_u32(a + ".vocab_size", c.n_vocab);
  w->set_u32(a + ".context_length", c.n_ctx);
  w->set_u32(a + ".embedding_length", c.n_embd);
  w->set_u32(a + ".block_count", c.n_layer);
  w->set_u32(a + ".feed_forward_length", c.n_ff);
  w->set_u32(a + ".attention.head_count", c.n_head);
  w->set_u32(a + ".attention.head_count_kv", c.n_head_kv);
  if (uint64_t{c.head_dim} * c.n_head != c.n_embd) {
    w->set_u32(a + ".attention.key_length", c.head_dim);
    w->set_u32(a + ".attention.value_length", c.head_dim);
  }
  w->set_f32(a + ".rope.freq_base", c.rope_theta);
  w->set_f32(a + ".attention.layer_norm_rms_epsilon", c.rms_eps);
  w->set_u32(a + ".rope.dimension_count", c.head_dim);
  if (c.rope_scaling == "linear" || c.rope_scaling == "yarn") {
    w->set_string(a + ".rope.scaling.type", c.rope_scaling);
    w->set_f32(a + ".rope.scaling.factor", c.rope_factor);
    if (c.rope_orig_ctx != 0) {
      w->set_u32(a + ".rope.scaling.original_context_length", c.rope_orig_ctx);
    }
  }
}

Result<TokenizerMetadata> load_tokenizer(const std::string& dir, const HfConfig& cfg) {
  DARI_ASSIGN_OR_RETURN(TokenizerMetadata md, import_hf_tokenizer(dir, cfg.arch));
  // config.json ids are the fallback when the tokenizer files do not name the tokens.
  if (!md.bos_id && cfg.bos_token_id && *cfg.bos_token_id < md.tokens.size()) {
    md.bos_id = cfg.bos_token_id;
  }
  if (!md.eos_id && cfg.eos_token_id && *cfg.eos_token_id < md.tokens.size()) {
    md.eos_id = cfg.eos_token_id;
  }
  Status st = pad_vocab(&md, cfg.n_vocab);
  if (!st.ok()) return make_error(dir + ": " + st.message());
  return md;
}

}  // namespace

Status permute_qk_rows(const float* src, float* dst, uint64_t rows, uint64_t cols,
                       uint32_t n_head) {
  if (n_head == 0 || rows % (2ull * n_head) != 0) {
    return make_error(str_format("cannot permute %llu rows over %u heads",
                                 static_cast<unsigned long long>(rows), n_head));
  }
  const uint64_t hd = rows / n_head, half = hd / 2;
  for (uint64_t h = 0; h < n_head; ++h) {
    for (uint64_t i = 0; i < half; ++i) {
      for (uint64_t j = 0; j < 2; ++j) {
        const float* s = src + (h * hd + j * half + i) * cols;
        float* d = dst + (h * hd + 2 * i + j) * cols;
        std::memcpy(d, s, cols * sizeof(float));
      }
    }
  }
  return Status::Ok();
}

Result<ConvertSummary> convert_hf_checkpoint(const std::string& dir, const std::string& out_path,
                                             const ConvertOptions& opts) {
  const std::string cfg_path = dir + "/config.json";
  DARI_ASSIGN_OR_RETURN(std::string cfg_text, read_whole_file(cfg_path, 16ull << 20));
  DARI_ASSIGN_OR_RETURN(HfConfig cfg, parse_hf_config(cfg_text, cfg_path));
  DARI_ASSIGN_OR_RETURN(SafetensorsCheckpoint ck, SafetensorsCheckpoint::open_dir(dir));
  DARI_ASSIGN_OR_RETURN(TokenizerMetadata tok, load_tokenizer(dir, cfg));
  std::vector<PlanItem> plan = build_plan(cfg, ck);
  DARI_TRY(check_all_mapped(plan, ck, cfg));

  std::string name = opts.name;
  if (name.empty()) name = cfg.name_or_path;
  if (name.empty()) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    name = d.substr(d.find_last_of('/') == std::string::npos ? 0 : d.find_last_of('/') + 1);
  }
  GgufWriter w;
  write_model_metadata(cfg, name, opts.type, &w);
  write_tokenizer_metadata(tok, &w);

  // Pass 1: validate every tensor and declare it (type and size) without converting anything.
  std::vector<Planned> planned;
  const std::vector<float> rope_factors =
      cfg.rope_scaling == "llama3" ? llama3_rope_factors(cfg) : std::vector<float>{};
  if (!rope_factors.empty()) {
    planned.push_back({nullptr, "rope_freqs.weight", GgmlType::F32, {rope_factors.size()},
                       rope_factors.size() * sizeof(float)});
  }
  for (const auto& p : plan) {
    DARI_ASSIGN_OR_RETURN(Planned pl, plan_tensor(p, ck, opts.type));
    planned.push_back(std::move(pl));
  }
  for (const auto& pl : planned) DARI_TRY(w.add_tensor_info(pl.gguf, pl.type, pl.ne));
  DARI_ASSIGN_OR_RETURN(std::vector<uint8_t> header, w.header_bytes());
  DARI_ASSIGN_OR_RETURN(uint64_t expect_size, w.file_size());

  // Pass 2: stream the tensors, each padded to the writer's default alignment (32).
  OutFile out(out_path);
  DARI_TRY(out.open());
  DARI_TRY(out.write(header.data(), header.size()));
  ConvertSummary sum;
  sum.arch = cfg.arch;
  sum.n_vocab = tok.tokens.size();
  sum.tokenizer_model = tok.model;
  for (const auto& pl : planned) {
    std::vector<uint8_t> bytes;
    if (pl.item == nullptr) {
      bytes.resize(pl.n_bytes);
      std::memcpy(bytes.data(), rope_factors.data(), pl.n_bytes);
    } else {
      DARI_ASSIGN_OR_RETURN(bytes, encode_tensor(pl, ck));
    }
    DARI_TRY(out.write(bytes.data(), bytes.size()));
    DARI_TRY(out.pad_to(32));
    ++sum.n_tensors;
    sum.n_tensor_bytes += pl.n_bytes;
    uint64_t n = 1;
    for (uint64_t d : pl.ne) n *= d;  // validated against the file, cannot overflow
    sum.n_params += n;
    if (opts.on_tensor) {
      opts.on_tensor({sum.n_tensors, planned.size(), pl.gguf, pl.ne, pl.type, pl.n_bytes});
    }
  }
  if (out.written() != expect_size) {
    return make_error(str_format("%s: internal error: wrote %llu bytes, layout needs %llu",
                                 out_path.c_str(), static_cast<unsigned long long>(out.written()),
                                 static_cast<unsigned long long>(expect_size)));
  }
  sum.file_bytes = out.written();
  DARI_TRY(out.commit());
  return sum;
}

}  // namespace dari
