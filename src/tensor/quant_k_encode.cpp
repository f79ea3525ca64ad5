// Reference quantisers of the k-quants (Q2_K..Q6_K).
//
// Each super-block of 256 is split into sub-blocks; every sub-block gets a least-squares fit of
// its own scale (and min), searched over a small grid of candidate step sizes around the
// max-based one and refined once. The sub-block scales/mins are then quantised against one
// fp16 super-block scale (6 bits, or 4 bits for Q2_K, or int8 for Q6_K) and the values are
// requantised with the scales actually stored, so the encoding decodes exactly as fitted.
// This is not llama.cpp's search bit for bit, but it produces valid encodings of similar error.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "dari/tensor/blocks.h"
#include "tensor/kquant_layout.h"
#include "tensor/numerics.h"

namespace dari::tensor_detail {
namespace {

constexpr int kSearchSteps = 10;     // candidates -kSearchSteps..kSearchSteps
constexpr float kSearchDelta = 0.1f;  // in units of quantisation levels

struct AffineFit {
  float scale = 0.0f;  // >= 0
  float min = 0.0f;    // >= 0; x ~ scale * L - min
  float err = std::numeric_limits<float>::infinity();
};

// Least-squares (scale, min) for fixed levels L; min is constrained to >= 0 (offset <= 0).
AffineFit solve_affine(const float* x, const uint8_t* L, int n) {
  float sl = 0, sll = 0, sx = 0, slx = 0;
  for (int j = 0; j < n; ++j) {
    const float l = static_cast<float>(L[j]);
    sl += l;
    sll += l * l;
    sx += x[j];
    slx += l * x[j];
  }
  const float nf = static_cast<float>(n);
  const float det = nf * sll - sl * sl;
  AffineFit f;
  float offset = 0.0f;
  if (det > 0.0f) {
    f.scale = (nf * slx - sl * sx) / det;
    offset = (sll * sx - sl * slx) / det;
  }
  if (offset > 0.0f || det <= 0.0f) {
    offset = 0.0f;
    f.scale = sll > 0.0f ? slx / sll : 0.0f;
  }
  if (f.scale < 0.0f) f.scale = 0.0f;
  f.min = -offset;
  float err = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float e = f.scale * static_cast<float>(L[j]) - f.min - x[j];
    err += e * e;
  }
  f.err = err;
  return f;
}

void levels_affine(const float* x, int n, int nmax, float inv_scale, float offset, uint8_t* L) {
  for (int j = 0; j < n; ++j) {
    L[j] = static_cast<uint8_t>(round_even_clamp((x[j] - offset) * inv_scale, 0, nmax));
  }
}

// Fits x ~ scale * L - min with L in [0, nmax] (n <= 32).
AffineFit fit_affine(const float* x, int n, int nmax) {
  float lo = 0.0f;
  float hi = x[0];
  for (int j = 0; j < n; ++j) {
    lo = x[j] < lo ? x[j] : lo;
    hi = x[j] > hi ? x[j] : hi;
  }
  AffineFit best;
  best.min = -lo;
  if (!(hi > lo)) return best;  // constant (<= 0) sub-block: exactly -min
  uint8_t L[32];
  for (int step = -kSearchSteps; step <= kSearchSteps; ++step) {
    const float iscale = (static_cast<float>(nmax) + kSearchDelta * static_cast<float>(step)) / (hi - lo);
    levels_affine(x, n, nmax, iscale, lo, L);
    const AffineFit f = solve_affine(x, L, n);
    if (f.err < best.err) best = f;
  }
  // Refine the winner: requantise with its fitted scale and min, refit, keep while it improves.
  for (int iter = 0; iter < 2 && best.scale > 0.0f; ++iter) {
    levels_affine(x, n, nmax, 1.0f / best.scale, -best.min, L);
    const AffineFit g = solve_affine(x, L, n);
    if (!(g.err < best.err)) break;
    best = g;
  }
  return best;
}

// Fits x ~ scale * L with L in [-nmax, nmax - 1]; the scale is signed so the largest |x| maps
// to -nmax, the side with the extra level. Returns the scale (0 for an all-zero sub-block).
float fit_symmetric(const float* x, int n, int nmax) {
  float amax = 0.0f;
  float vmax = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      vmax = x[j];
    }
  }
  if (!(amax > 0.0f)) return 0.0f;
  float best_scale = vmax / -static_cast<float>(nmax);
  float best_gain = -1.0f;  // sum(x L)^2 / sum(L L): larger means smaller squared error
  for (int step = -kSearchSteps; step <= kSearchSteps; ++step) {
    const float iscale = -(static_cast<float>(nmax) + kSearchDelta * static_cast<float>(step)) / vmax;
    float slx = 0.0f;
    float sll = 0.0f;
    for (int j = 0; j < n; ++j) {
      const float l = static_cast<float>(round_even_clamp(iscale * x[j], -nmax, nmax - 1));
      slx += l * x[j];
      sll += l * l;
    }
    if (sll > 0.0f && slx * slx / sll > best_gain) {
      best_gain = slx * slx / sll;
      best_scale = slx / sll;
    }
  }
  return best_scale;
}

// Quantises non-negative values v[0..n) to levels in [0, lmax] against a shared step;
// returns the step actually stored (fp16-rounded) and writes the levels.
float quantize_unsigned_scales(const float* v, int n, int lmax, uint16_t* half_step, int* levels) {
  float vmax = 0.0f;
  for (int j = 0; j < n; ++j) vmax = v[j] > vmax ? v[j] : vmax;
  *half_step = float_to_half(vmax / static_cast<float>(lmax));
  const float step = half_to_float(*half_step);
  const float inv = step > 0.0f ? 1.0f / step : 0.0f;
  for (int j = 0; j < n; ++j) levels[j] = round_even_clamp(v[j] * inv, 0, lmax);
  return step;
}

// Quantises signed values v[0..n) to levels in [-lmax, lmax - 1] (largest |v| -> -lmax).
float quantize_signed_scales(const float* v, int n, int lmax, uint16_t* half_step, int* levels) {
  float amax = 0.0f;
  float vmax = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(v[j]) > amax) {
      amax = std::fabs(v[j]);
      vmax = v[j];
    }
  }
  *half_step = float_to_half(amax > 0.0f ? vmax / -static_cast<float>(lmax) : 0.0f);
  const float step = half_to_float(*half_step);
  const float inv = step != 0.0f ? 1.0f / step : 0.0f;
  for (int j = 0; j < n; ++j) levels[j] = round_even_clamp(v[j] * inv, -lmax, lmax - 1);
  return step;
}

// Squared error of x against the grid dl * L - ml, L in [0, nmax], L rounded to nearest.
float affine_error(const float* x, int n, int nmax, float dl, float ml) {
  const float inv = dl > 0.0f ? 1.0f / dl : 0.0f;
  float err = 0.0f;
  for (int j = 0; j < n; ++j) {
    const int l = round_even_clamp((x[j] + ml) * inv, 0, nmax);
    const float e = dl * static_cast<float>(l) - ml - x[j];
    err += e * e;
  }
  return err;
}

// Squared error of x against the grid dl * L, L in [-nmax, nmax - 1].
float symmetric_error(const float* x, int n, int nmax, float dl) {
  const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
  float err = 0.0f;
  for (int j = 0; j < n; ++j) {
    const int l = round_even_clamp(x[j] * inv, -nmax, nmax - 1);
    const float e = dl * static_cast<float>(l) - x[j];
    err += e * e;
  }
  return err;
}

// Affine k-quant super-block (Q2_K, Q4_K, Q5_K): fits `subs` sub-blocks of `len`, quantises
// scales and mins to [0, scale_max], then the values to [0, nmax] with the stored scales.
struct AffineSuper {
  uint16_t d = 0;
  uint16_t dmin = 0;
  int sc[16] = {};
  int mn[16] = {};
  uint8_t q[kQK_K] = {};
};
AffineSuper quantize_affine_super(const float* x, int subs, int len, int nmax, int scale_max) {
  float scales[16];
  float mins[16];
  for (int s = 0; s < subs; ++s) {
    const AffineFit f = fit_affine(x + s * len, len, nmax);
    scales[s] = f.scale;
    mins[s] = f.min;
  }
  AffineSuper out;
  const float d = quantize_unsigned_scales(scales, subs, scale_max, &out.d, out.sc);
  const float dmin = quantize_unsigned_scales(mins, subs, scale_max, &out.dmin, out.mn);
  for (int s = 0; s < subs; ++s) {
    // The scale/min levels were rounded independently; try their neighbours jointly.
    const float* xs = x + s * len;
    float best_err = std::numeric_limits<float>::infinity();
    int best_sc = out.sc[s];
    int best_mn = out.mn[s];
    for (int dsc = -1; dsc <= 1; ++dsc) {
      for (int dmn = -1; dmn <= 1; ++dmn) {
        const int sc = out.sc[s] + dsc;
        const int mn = out.mn[s] + dmn;
        if (sc < 0 || sc > scale_max || mn < 0 || mn > scale_max) continue;
        const float err = affine_error(xs, len, nmax, d * static_cast<float>(sc), dmin * static_cast<float>(mn));
        if (err < best_err) {
          best_err = err;
          best_sc = sc;
          best_mn = mn;
        }
      }
    }
    out.sc[s] = best_sc;
    out.mn[s] = best_mn;
    const float dl = d * static_cast<float>(best_sc);
    const float ml = dmin * static_cast<float>(best_mn);
    const float inv = dl > 0.0f ? 1.0f / dl : 0.0f;
    for (int l = 0; l < len; ++l) {
      out.q[s * len + l] = static_cast<uint8_t>(round_even_clamp((xs[l] + ml) * inv, 0, nmax));
    }
  }
  return out;
}

// Symmetric k-quant super-block (Q3_K, Q6_K): 16 sub-blocks of 16, signed scales in
// [-scale_max, scale_max - 1], values in [-nmax, nmax - 1] stored biased by nmax.
struct SymmetricSuper {
  uint16_t d = 0;
  int sc[16] = {};
  uint8_t q[kQK_K] = {};
};
SymmetricSuper quantize_symmetric_super(const float* x, int nmax, int scale_max) {
  float scales[16];
  for (int s = 0; s < 16; ++s) scales[s] = fit_symmetric(x + 16 * s, 16, nmax);
  SymmetricSuper out;
  const float d = quantize_signed_scales(scales, 16, scale_max, &out.d, out.sc);
  for (int s = 0; s < 16; ++s) {
    const float* xs = x + 16 * s;
    float best_err = std::numeric_limits<float>::infinity();
    int best_sc = out.sc[s];
    for (int dsc = -1; dsc <= 1; ++dsc) {  // the scale level was rounded alone; try neighbours
      const int sc = out.sc[s] + dsc;
      if (sc < -scale_max || sc > scale_max - 1) continue;
      const float err = symmetric_error(xs, 16, nmax, d * static_cast<float>(sc));
      if (err < best_err) {
        best_err = err;
        best_sc = sc;
      }
    }
    out.sc[s] = best_sc;
    const float dl = d * static_cast<float>(best_sc);
    const float inv = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int l = 0; l < 16; ++l) {
      out.q[16 * s + l] = static_cast<uint8_t>(round_even_clamp(xs[l] * inv, -nmax, nmax - 1) + nmax);
    }
  }
  return out;
}

uint8_t* block_out(void* base, int64_t i, size_t size) {
  return static_cast<uint8_t*>(base) + i * static_cast<int64_t>(size);
}

}  // namespace

void q2_k_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AffineSuper s = quantize_affine_super(src + i * kQK_K, 16, 16, 3, 15);
    uint8_t* b = block_out(dst, i, sizeof(BlockQ2_K));
    for (int j = 0; j < 16; ++j) {
      b[offsetof(BlockQ2_K, scales) + j] = static_cast<uint8_t>(s.sc[j] | (s.mn[j] << 4));
    }
    pack_2bit(s.q, b + offsetof(BlockQ2_K, qs));
    store_u16(b + offsetof(BlockQ2_K, d), s.d);
    store_u16(b + offsetof(BlockQ2_K, dmin), s.dmin);
  }
}

void q3_k_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const SymmetricSuper s = quantize_symmetric_super(src + i * kQK_K, 4, 32);
    uint8_t* b = block_out(dst, i, sizeof(BlockQ3_K));
    pack_q3_k(s.q, b);
    pack_scales_q3_k(s.sc, b + offsetof(BlockQ3_K, scales));
    store_u16(b + offsetof(BlockQ3_K, d), s.d);
  }
}

namespace {
void pack_k4_scales(const AffineSuper& s, uint8_t* dst) {
  uint8_t sc[8];
  uint8_t mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(s.sc[j]);
    mn[j] = static_cast<uint8_t>(s.mn[j]);
  }
  pack_scale_min_k4(sc, mn, dst);
}
}  // namespace

void q4_k_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AffineSuper s = quantize_affine_super(src + i * kQK_K, 8, 32, 15, 63);
    uint8_t* b = block_out(dst, i, sizeof(BlockQ4_K));
    store_u16(b + offsetof(BlockQ4_K, d), s.d);
    store_u16(b + offsetof(BlockQ4_K, dmin), s.dmin);
    pack_k4_scales(s, b + offsetof(BlockQ4_K, scales));
    pack_nibbles_k(s.q, b + offsetof(BlockQ4_K, qs));
  }
}

void q5_k_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const AffineSuper s = quantize_affine_super(src + i * kQK_K, 8, 32, 31, 63);
    uint8_t* b = block_out(dst, i, sizeof(BlockQ5_K));
    store_u16(b + offsetof(BlockQ5_K, d), s.d);
    store_u16(b + offsetof(BlockQ5_K, dmin), s.dmin);
    pack_k4_scales(s, b + offsetof(BlockQ5_K, scales));
    pack_q5_k(s.q, b);
  }
}

void q6_k_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const SymmetricSuper s = quantize_symmetric_super(src + i * kQK_K, 32, 128);
    uint8_t* b = block_out(dst, i, sizeof(BlockQ6_K));
    pack_q6_k(s.q, b);
    for (int j = 0; j < 16; ++j) {
      b[offsetof(BlockQ6_K, scales) + j] = static_cast<uint8_t>(static_cast<int8_t>(s.sc[j]));
    }
    store_u16(b + offsetof(BlockQ6_K, d), s.d);
  }
}

}  // namespace dari::tensor_detail
