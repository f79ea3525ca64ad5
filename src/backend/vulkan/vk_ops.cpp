// Row-wise ops (ADD, MUL, SILU_MUL, RMS_NORM, SOFTMAX, ROPE, GET_ROWS, SET_ROWS, COPY), view
// checks and the op dispatcher. Each op is split into dispatches over row ranges so every
// bound range fits the device's maxStorageBufferRange (or DARI_VULKAN_MAX_RANGE).
#include "vk_ops.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>
#include <vector>

namespace dari_vk {
namespace {

bool is_float_type(uint32_t t) {
  return t == kF32 || t == kF16 || t == kBF16;
}
uint32_t elem_bytes(uint32_t t) {
  return t == kF32 ? 4 : 2;
}

bool same_shape(const DariTensorView& a, const DariTensorView& b) {
  for (int i = 0; i < 4; ++i) {
    if (a.ne[i] != b.ne[i]) return false;
  }
  return true;
}

// Strides (and, with data, the address) are multiples of `a` bytes.
bool strides_aligned(const DariTensorView& v, uint64_t a) {
  return v.nb[1] % a == 0 && v.nb[2] % a == 0 && v.nb[3] % a == 0;
}

Status check_addr(const DariTensorView& v, uint64_t a, const char* what) {
  if (addr_of(v) % a != 0) {
    return make_status(DARI_ERR_INVALID,
                       fmt("%s address 0x%llx is not %llu-byte aligned", what,
                           (unsigned long long)addr_of(v), (unsigned long long)a));
  }
  return Status::Ok();
}

uint32_t ceil_div(uint64_t a, uint64_t b) {
  return static_cast<uint32_t>((a + b - 1) / b);
}

// The largest n <= max with fits(n) (halving); at least 1.
template <class F>
uint64_t chunk(uint64_t max, F fits) {
  uint64_t n = max;
  while (n > 1 && !fits(n)) n = (n + 1) / 2;
  return n;
}

// Runs `pipe` over all rows of a (and c, and b unless it is absent or broadcast), one
// workgroup row per tensor row, gx workgroups across.
Status encode_rows(Encoder& e, const char* pipe, RowPush push, const DariTensorView& a,
                   const DariTensorView* b, bool b_broadcast, const DariTensorView& c_view,
                   uint32_t gx) {
  Context* c = e.ctx();
  const uint64_t rows = n_rows(a);
  const uint64_t lim = span_limit(c);
  for (uint64_t r = 0; r < rows;) {
    const uint64_t n = chunk(rows - r, [&](uint64_t k) {
      return row_span(a, r, r + k - 1) <= lim && row_span(c_view, r, r + k - 1) <= lim &&
             (b == nullptr || b_broadcast || row_span(*b, r, r + k - 1) <= lim);
    });
    BindRange br[3];
    DVK_TRY(bind_rows(c, a, r, r + n - 1, false, &br[0], &push.va));
    if (b != nullptr) {
      if (b_broadcast) {
        DVK_TRY(bind_rows(c, *b, 0, 0, false, &br[1], &push.vb));
        push.vb.nb1 = push.vb.nb2 = push.vb.nb3 = 0;
      } else {
        DVK_TRY(bind_rows(c, *b, r, r + n - 1, false, &br[1], &push.vb));
      }
    }
    DVK_TRY(bind_rows(c, c_view, r, r + n - 1, true, &br[2], &push.vc));
    push.r0 = static_cast<uint32_t>(r);
    push.nrows = static_cast<uint32_t>(n);
    uint32_t gy = 1, gz = 1;
    rows_grid(n, &gy, &gz);
    DVK_TRY(e.dispatch(pipe, br, 3, &push, sizeof(push), gx, gy, gz));
    r += n;
  }
  return Status::Ok();
}

Status encode_binary(Encoder& e, const DariOp& op, uint32_t code) {
  const DariTensorView &a = op.src[0], &b = op.src[1], &y = op.dst;
  DVK_TRY(check_addr(a, 4, "src0"));
  DVK_TRY(check_addr(b, 4, "src1"));
  DVK_TRY(check_addr(y, 4, "dst"));
  RowPush p;
  p.ne0 = static_cast<uint32_t>(a.ne[0]);
  p.op = code;
  const bool bc = !same_shape(a, b);
  return encode_rows(e, "binary", p, a, &b, bc, y, ceil_div(p.ne0, 1024));
}

Status encode_norm(Encoder& e, const DariOp& op, bool softmax) {
  const DariTensorView &a = op.src[0], &y = op.dst;
  DVK_TRY(check_addr(a, 4, "src0"));
  DVK_TRY(check_addr(y, 4, "dst"));
  RowPush p;
  p.ne0 = static_cast<uint32_t>(a.ne[0]);
  p.f0 = softmax ? op.params.scale : op.params.eps;
  const bool w = !softmax && op.n_src >= 2;
  if (w) DVK_TRY(check_addr(op.src[1], 4, "weight"));
  p.op = w ? 1 : 0;
  return encode_rows(e, softmax ? "softmax" : "rms_norm", p, a, w ? &op.src[1] : nullptr, true, y,
                     1);
}

Status encode_rope(Encoder& e, const DariOp& op) {
  const DariTensorView &x = op.src[0], &y = op.dst;
  const DariRopeParams& rp = op.params.rope;
  DVK_TRY(check_addr(x, 4, "src0"));
  DVK_TRY(check_addr(y, 4, "dst"));
  if (rp.positions == nullptr) return make_status(DARI_ERR_INVALID, "positions missing");
  const uint64_t heads = static_cast<uint64_t>(x.ne[1]);
  const uint64_t tokens = n_rows(x) / heads;
  const uint32_t half = static_cast<uint32_t>(rp.n_dims / 2);
  // cos/sin per (token, pair), in double like the CPU; shared by ops with the same inputs.
  const std::string key =
      fmt("rope %p %llu %d %a %a %p", static_cast<const void*>(rp.positions),
          (unsigned long long)tokens, rp.n_dims, static_cast<double>(rp.freq_base),
          static_cast<double>(rp.freq_scale), static_cast<const void*>(rp.freq_factors));
  uint32_t at = 0;
  auto it = e.memo.find(key);
  if (it != e.memo.end()) {
    at = it->second;
  } else {
    std::vector<double> inv(half);
    for (uint32_t i = 0; i < half; ++i) {
      double f = std::pow(static_cast<double>(rp.freq_base), -2.0 * i / rp.n_dims);
      if (rp.freq_factors != nullptr) {
        if (!(rp.freq_factors[i] > 0.0f)) {
          return make_status(DARI_ERR_INVALID, "rope freq factors must be > 0");
        }
        f /= rp.freq_factors[i];
      }
      inv[i] = f;
    }
    std::vector<float> cs(static_cast<size_t>(tokens) * half * 2);
    for (uint64_t t = 0; t < tokens; ++t) {
      const double pos = static_cast<double>(rp.positions[t]) * rp.freq_scale;
      for (uint32_t i = 0; i < half; ++i) {
        const double ang = pos * inv[i];
        cs[(t * half + i) * 2] = static_cast<float>(std::cos(ang));
        cs[(t * half + i) * 2 + 1] = static_cast<float>(std::sin(ang));
      }
    }
    at = e.add_params(cs.data(), cs.size());
    e.memo.emplace(key, at);
  }
  RowPush p;
  p.ne0 = static_cast<uint32_t>(x.ne[0]);
  p.op = rp.mode == DARI_ROPE_NEOX ? 1 : 0;
  p.ids = at;
  p.t0 = static_cast<uint32_t>(rp.n_dims);
  p.t1 = static_cast<uint32_t>(heads);
  return encode_rows(e, "rope", p, x, nullptr, false, y, ceil_div(p.ne0 / 2, 64));
}

Status check_ids(const DariOp& op, uint64_t want, uint64_t limit) {
  const DariOpParams& p = op.params;
  if (p.row_ids == nullptr || p.n_row_ids < 0 || static_cast<uint64_t>(p.n_row_ids) != want) {
    return make_status(DARI_ERR_INVALID, fmt("expected %llu row ids, got %lld",
                                             (unsigned long long)want, (long long)p.n_row_ids));
  }
  for (uint64_t i = 0; i < want; ++i) {
    if (p.row_ids[i] < 0 || static_cast<uint64_t>(p.row_ids[i]) >= limit) {
      return make_status(DARI_ERR_INVALID,
                         fmt("row id %d at index %llu out of range [0, %llu)", p.row_ids[i],
                             (unsigned long long)i, (unsigned long long)limit));
    }
  }
  return Status::Ok();
}

// GET_ROWS, or with identity = true a dequantising COPY (row i -> row i).
Status encode_get_rows(Encoder& e, const DariOp& op, bool identity) {
  Context* c = e.ctx();
  const DariTensorView &t = op.src[0], &y = op.dst;
  const uint64_t rows = n_rows(y);
  std::vector<int32_t> iota;
  if (identity) {
    if (rows > static_cast<uint64_t>(INT32_MAX)) {
      return make_status(DARI_ERR_UNSUPPORTED, "too many rows");
    }
    iota.resize(rows);
    for (uint64_t i = 0; i < rows; ++i) iota[i] = static_cast<int32_t>(i);
  } else {
    DVK_TRY(check_ids(op, rows, n_rows(t)));
  }
  const int32_t* ids = identity ? iota.data() : op.params.row_ids;
  DVK_TRY(check_addr(t, is_float_type(t.type) ? elem_bytes(t.type) : 2, "table"));
  DVK_TRY(check_addr(y, 4, "dst"));
  const std::string pipe = std::string("get_rows_") + type_info(t.type).name;
  RowPush p;
  p.ne0 = static_cast<uint32_t>(t.ne[0]);
  p.ids = e.add_params(ids, rows);
  const uint32_t gx = ceil_div(ceil_div(p.ne0, 8), 64);
  const uint64_t lim = span_limit(c);
  for (uint64_t r = 0; r < rows;) {
    // Grow the chunk while the table rows it names and its dst rows fit one binding each.
    uint64_t mn = static_cast<uint64_t>(ids[r]), mx = mn, n = 1;
    while (r + n < rows && n < 65535u * 64u) {
      const uint64_t id = static_cast<uint64_t>(ids[r + n]);
      const uint64_t a = std::min(mn, id), b = std::max(mx, id);
      if (row_span(t, a, b) > lim || row_span(y, r, r + n) > lim) break;
      mn = a;
      mx = b;
      ++n;
    }
    BindRange br[3];
    DVK_TRY(bind_rows(c, t, mn, mx, false, &br[0], &p.va));
    br[1] = br[0];
    br[1].write = false;
    DVK_TRY(bind_rows(c, y, r, r + n - 1, true, &br[2], &p.vc));
    p.r0 = static_cast<uint32_t>(r);
    p.nrows = static_cast<uint32_t>(n);
    uint32_t gy = 1, gz = 1;
    rows_grid(n, &gy, &gz);
    DVK_TRY(e.dispatch(pipe.c_str(), br, 3, &p, sizeof(p), gx, gy, gz));
    r += n;
  }
  return Status::Ok();
}

// COPY (pairs = null: row i -> row i) and SET_ROWS (pairs of src row, dst row).
Status encode_convert(Encoder& e, const DariOp& op, bool set_rows) {
  Context* c = e.ctx();
  const DariTensorView &x = op.src[0], &y = op.dst;
  DVK_TRY(check_addr(x, elem_bytes(x.type), "src0"));
  DVK_TRY(check_addr(y, elem_bytes(y.type), "dst"));
  RowPush p;
  p.ne0 = static_cast<uint32_t>(x.ne[0]);
  p.t0 = x.type;
  p.t1 = y.type;
  const uint32_t gx = ceil_div(p.ne0 / 2 + 1, 256);  // words a row touches
  if (!set_rows) return encode_rows(e, "convert", p, x, nullptr, false, y, gx);
  const uint64_t rows = n_rows(x);
  DVK_TRY(check_ids(op, rows, n_rows(y)));
  // Last write wins, as when the CPU runs the rows in order: drop earlier duplicates.
  std::vector<int32_t> pairs;
  pairs.reserve(rows * 2);
  std::unordered_set<int32_t> seen;
  for (uint64_t i = rows; i-- > 0;) {
    if (!seen.insert(op.params.row_ids[i]).second) continue;
    pairs.push_back(op.params.row_ids[i]);
    pairs.push_back(static_cast<int32_t>(i));
  }
  std::reverse(pairs.begin(), pairs.end());  // (src, dst) pairs in row order
  const uint64_t n_pairs = pairs.size() / 2;
  const uint32_t at = e.add_params(pairs.data(), pairs.size());
  p.op = 1;
  const uint64_t lim = span_limit(c);
  for (uint64_t k = 0; k < n_pairs;) {
    uint64_t smn = static_cast<uint64_t>(pairs[2 * k]), smx = smn;
    uint64_t dmn = static_cast<uint64_t>(pairs[2 * k + 1]), dmx = dmn, n = 1;
    while (k + n < n_pairs && n < 65535u * 64u) {
      const uint64_t s = static_cast<uint64_t>(pairs[2 * (k + n)]);
      const uint64_t d = static_cast<uint64_t>(pairs[2 * (k + n) + 1]);
      const uint64_t a = std::min(smn, s), b = std::max(smx, s);
      const uint64_t a2 = std::min(dmn, d), b2 = std::max(dmx, d);
      if (row_span(x, a, b) > lim || row_span(y, a2, b2) > lim) break;
      smn = a;
      smx = b;
      dmn = a2;
      dmx = b2;
      ++n;
    }
    BindRange br[3];
    DVK_TRY(bind_rows(c, x, smn, smx, false, &br[0], &p.va));
    br[1] = br[0];
    DVK_TRY(bind_rows(c, y, dmn, dmx, true, &br[2], &p.vc));
    p.ids = at + static_cast<uint32_t>(2 * k);
    p.r0 = 0;
    p.nrows = static_cast<uint32_t>(n);
    uint32_t gy = 1, gz = 1;
    rows_grid(n, &gy, &gz);
    DVK_TRY(e.dispatch("convert", br, 3, &p, sizeof(p), gx, gy, gz));
    k += n;
  }
  return Status::Ok();
}

std::string need_f32(const DariTensorView& v, const char* what) {
  std::string s = check_view(v, what);
  if (!s.empty()) return s;
  if (v.type != kF32) return std::string(what) + " must be F32, got " + describe(v);
  if (!strides_aligned(v, 4)) return std::string(what) + " strides not 4-byte aligned";
  return {};
}

}  // namespace

std::string describe(const DariTensorView& v) {
  std::string name = type_info(v.type).name;
  for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (type_info(v.type).block_elems == 0) name = fmt("type%u", v.type);
  return fmt("%s [%lld, %lld, %lld, %lld]", name.c_str(), (long long)v.ne[0], (long long)v.ne[1],
             (long long)v.ne[2], (long long)v.ne[3]);
}

std::string check_view(const DariTensorView& v, const char* what) {
  const TypeInfo t = type_info(v.type);
  if (t.block_elems == 0) return std::string(what) + fmt(": unsupported type %u", v.type);
  for (int i = 0; i < 4; ++i) {
    if (v.ne[i] < 1 || v.ne[i] > (int64_t{1} << 40)) {
      return std::string(what) + ": bad shape " + describe(v);
    }
  }
  if (v.ne[0] % t.block_elems != 0) {
    return std::string(what) + ": row length not a multiple of the block size: " + describe(v);
  }
  if (v.ne[0] > (int64_t{1} << 28)) return std::string(what) + ": row too long " + describe(v);
  const uint64_t rb = row_bytes(t, v.ne[0]);
  if (v.nb[1] < rb || v.nb[2] < v.nb[1] * static_cast<uint64_t>(v.ne[1]) ||
      v.nb[3] < v.nb[2] * static_cast<uint64_t>(v.ne[2])) {
    return std::string(what) + ": overlapping strides " + describe(v);
  }
  return {};
}

Status bind_rows(Context* c, const DariTensorView& v, uint64_t lo, uint64_t hi, bool write,
                 BindRange* b, ViewPush* vp) {
  const uint64_t off = row_off(v, lo);
  DVK_TRY(bind(c, addr_of(v) + off, row_span(v, lo, hi), write, b));
  vp->bias = b->rem - static_cast<uint32_t>(off);
  vp->nb1 = static_cast<uint32_t>(v.nb[1]);
  vp->nb2 = static_cast<uint32_t>(v.nb[2]);
  vp->nb3 = static_cast<uint32_t>(v.nb[3]);
  vp->ne1 = uniform_rows(v) ? 0 : static_cast<uint32_t>(v.ne[1]);  // 0: row r at r * nb1
  vp->ne2 = static_cast<uint32_t>(v.ne[2]);
  return Status::Ok();
}

std::string check_op(const Context* c, const DariOp& op) {
  const uint32_t need_src[] = {2, 1, 1, 1, 2, 2, 2, 1, 1, 3, 1};
  if (op.kind >= DARI_OP_COUNT) return "unknown op kind";
  if (op.n_src < need_src[op.kind] || op.n_src > 3) return "wrong number of inputs";
  std::string s;
  const DariTensorView &a = op.src[0], &y = op.dst;
  const uint64_t lim = span_limit(c);
  switch (op.kind) {
    case DARI_OP_MATMUL:
      return check_matmul(c, op);
    case DARI_OP_ATTENTION:
      return check_attention(c, op);
    case DARI_OP_ADD:
    case DARI_OP_MUL:
    case DARI_OP_SILU_MUL: {
      if (!(s = need_f32(a, "src0")).empty() || !(s = need_f32(op.src[1], "src1")).empty() ||
          !(s = need_f32(y, "dst")).empty()) {
        return s;
      }
      const DariTensorView& b = op.src[1];
      if (!same_shape(a, y)) return "dst shape differs from src0";
      if (!same_shape(a, b) && !(n_rows(b) == 1 && b.ne[0] == a.ne[0])) {
        return "src1 must match src0 or be one row";
      }
      break;
    }
    case DARI_OP_RMS_NORM:
    case DARI_OP_SOFTMAX:
    case DARI_OP_ROPE:
      if (!(s = need_f32(a, "src0")).empty() || !(s = need_f32(y, "dst")).empty()) return s;
      if (!same_shape(a, y)) return "dst shape differs from src0";
      if (op.kind == DARI_OP_RMS_NORM && op.n_src >= 2) {
        if (!(s = need_f32(op.src[1], "weight")).empty()) return s;
        if (op.src[1].ne[0] != a.ne[0] || n_rows(op.src[1]) != 1) return "weight shape";
      }
      if (op.kind == DARI_OP_ROPE) {
        const DariRopeParams& rp = op.params.rope;
        if (a.ne[0] % 2 != 0 || rp.n_dims <= 0 || rp.n_dims % 2 != 0 || rp.n_dims > a.ne[0] ||
            (rp.mode != DARI_ROPE_NORMAL && rp.mode != DARI_ROPE_NEOX) || !(rp.freq_base > 0.0f) ||
            !(rp.freq_scale > 0.0f)) {
          return "rope parameters";
        }
      }
      break;
    case DARI_OP_GET_ROWS:
      if (!(s = check_view(a, "table")).empty() || !(s = need_f32(y, "dst")).empty()) return s;
      if (a.ne[0] != y.ne[0]) return "table and dst row lengths differ";
      if (!strides_aligned(a, 2)) return "table strides not 2-byte aligned";
      if (view_row_bytes(a) > lim) return "table row exceeds the binding range";
      break;
    case DARI_OP_SET_ROWS:
    case DARI_OP_COPY:
      if (!(s = check_view(a, "src0")).empty() || !(s = check_view(y, "dst")).empty()) return s;
      if (op.kind == DARI_OP_COPY && !is_float_type(a.type) && y.type == kF32) {
        // Dequantising copy: get_rows with identity row ids.
        if (!same_shape(a, y)) return "shapes differ";
        if (!strides_aligned(a, 2) || !strides_aligned(y, 4)) return "strides not aligned";
        break;
      }
      if (!is_float_type(a.type) || !is_float_type(y.type)) return "only F32/F16/BF16";
      if (op.kind == DARI_OP_SET_ROWS && a.type != kF32) return "set_rows source must be F32";
      if (op.kind == DARI_OP_COPY && !same_shape(a, y)) return "shapes differ";
      if (a.ne[0] != y.ne[0]) return "row lengths differ";
      if (!strides_aligned(a, elem_bytes(a.type)) || !strides_aligned(y, elem_bytes(y.type))) {
        return "strides not aligned";
      }
      break;
    default:
      return "unsupported op";
  }
  if (view_row_bytes(a) > lim || view_row_bytes(y) > lim) return "row exceeds the binding range";
  return {};
}

Status encode_op(Encoder& e, const DariOp& op) {
  const std::string why = check_op(e.ctx(), op);
  if (!why.empty()) return make_status(DARI_ERR_UNSUPPORTED, why);
  switch (op.kind) {
    case DARI_OP_ADD:
      return encode_binary(e, op, 0);
    case DARI_OP_MUL:
      return encode_binary(e, op, 1);
    case DARI_OP_SILU_MUL:
      return encode_binary(e, op, 2);
    case DARI_OP_RMS_NORM:
      return encode_norm(e, op, false);
    case DARI_OP_SOFTMAX:
      return encode_norm(e, op, true);
    case DARI_OP_ROPE:
      return encode_rope(e, op);
    case DARI_OP_GET_ROWS:
      return encode_get_rows(e, op, false);
    case DARI_OP_SET_ROWS:
      return encode_convert(e, op, true);
    case DARI_OP_COPY:
      if (!is_float_type(op.src[0].type)) return encode_get_rows(e, op, true);
      return encode_convert(e, op, false);
    case DARI_OP_MATMUL:
      return encode_matmul(e, op);
    case DARI_OP_ATTENTION:
      return encode_attention(e, op);
    default:
      return make_status(DARI_ERR_UNSUPPORTED, "unsupported op");
  }
}

}  // namespace dari_vk
