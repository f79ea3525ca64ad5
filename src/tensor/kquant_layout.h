// Packing and unpacking of the k-quant super-blocks (Q2_K..Q6_K) between the byte layout of
// blocks.h and plain arrays of small integers in element order. The dequantisers, the dot
// products and the quantisers all go through these, so the layout lives in one place.
//
// Thread safety: pure functions. `b` points at one block (any byte address).
#pragma once

#include <cstddef>
#include <cstdint>

#include "dari/tensor/blocks.h"

namespace dari::tensor_detail {

// ---- 6-bit scale/min packing of Q4_K and Q5_K (8 pairs in 12 bytes) ----
// Pairs 0..3: low 6 bits of bytes j (scale) and j + 4 (min). Pairs 4..7: low nibbles in byte
// j + 4 (scale low, min high nibble), top 2 bits in bits 6-7 of bytes j - 4 (scale) and j (min).
inline void get_scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Inverse of get_scale_min_k4: sc, m are 8 values in [0, 63].
inline void pack_scale_min_k4(const uint8_t* sc, const uint8_t* m, uint8_t* q) {
  for (int j = 0; j < kKScaleSize; ++j) q[j] = 0;
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = static_cast<uint8_t>(q[j] | sc[j]);
      q[j + 4] = static_cast<uint8_t>(q[j + 4] | m[j]);
    } else {
      q[j + 4] = static_cast<uint8_t>((sc[j] & 0x0f) | ((m[j] & 0x0f) << 4));
      q[j - 4] = static_cast<uint8_t>(q[j - 4] | ((sc[j] >> 4) << 6));
      q[j] = static_cast<uint8_t>(q[j] | ((m[j] >> 4) << 6));
    }
  }
}

// ---- Q3_K: 16 signed 6-bit scales stored with +32 bias ----
inline void get_scales_q3_k(const uint8_t* q, int* sc) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (q[i] & 0x0f) : (q[i - 8] >> 4);
    const int high = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
    sc[i] = (low | (high << 4)) - 32;
  }
}
// sc: 16 values in [-32, 31].
inline void pack_scales_q3_k(const int* sc, uint8_t* q) {
  for (int j = 0; j < kKScaleSize; ++j) q[j] = 0;
  for (int i = 0; i < 16; ++i) {
    const int l = sc[i] + 32;
    if (i < 8) {
      q[i] = static_cast<uint8_t>(q[i] | (l & 0x0f));
    } else {
      q[i - 8] = static_cast<uint8_t>(q[i - 8] | ((l & 0x0f) << 4));
    }
    q[8 + i % 4] = static_cast<uint8_t>(q[8 + i % 4] | ((l >> 4) << (2 * (i / 4))));
  }
}

// ---- 2-bit fields shared by Q2_K and Q3_K: qs[32h + l] bits 2k.. = element 128h + 32k + l ----
inline void unpack_2bit(const uint8_t* qs, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        q[128 * h + 32 * k + l] = static_cast<uint8_t>((qs[32 * h + l] >> (2 * k)) & 3);
      }
    }
  }
}
inline void pack_2bit(const uint8_t* q, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* e = q + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
    }
  }
}

// Q2_K values 0..3.
inline void unpack_q2_k(const uint8_t* b, uint8_t* q) { unpack_2bit(b + offsetof(BlockQ2_K, qs), q); }

// Q3_K values -4..3 (3 bits with the high bit in hmask, biased by 4).
inline void unpack_q3_k(const uint8_t* b, int8_t* q) {
  uint8_t low[kQK_K];
  unpack_2bit(b + offsetof(BlockQ3_K, qs), low);
  const uint8_t* hm = b + offsetof(BlockQ3_K, hmask);
  for (int g = 0; g < 8; ++g) {  // element 32g + l: high bit g of hmask[l]
    for (int l = 0; l < 32; ++l) {
      const int high = (hm[l] >> g) & 1;
      q[32 * g + l] = static_cast<int8_t>((low[32 * g + l] | (high << 2)) - 4);
    }
  }
}
// q: 256 values in [0, 7].
inline void pack_q3_k(const uint8_t* q, uint8_t* b) {
  uint8_t low[kQK_K];
  uint8_t* hm = b + offsetof(BlockQ3_K, hmask);
  for (int j = 0; j < kQK_K / 8; ++j) hm[j] = 0;
  for (int j = 0; j < kQK_K; ++j) {
    low[j] = q[j] & 3;
    hm[j % 32] = static_cast<uint8_t>(hm[j % 32] | (((q[j] >> 2) & 1) << (j / 32)));
  }
  pack_2bit(low, b + offsetof(BlockQ3_K, qs));
}

// Q4_K / Q5_K nibbles: chunk c (64 elements) uses qs[32c..32c+31]; low nibble = 64c + l,
// high nibble = 64c + 32 + l. Q5_K's fifth bit: qh[l] bit 2c (low) / 2c + 1 (high).
inline void unpack_nibbles_k(const uint8_t* qs, uint8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = qs[32 * c + l] & 0x0f;
      q[64 * c + 32 + l] = qs[32 * c + l] >> 4;
    }
  }
}
inline void pack_nibbles_k(const uint8_t* q, uint8_t* qs) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * c + l] = static_cast<uint8_t>((q[64 * c + l] & 0x0f) | ((q[64 * c + 32 + l] & 0x0f) << 4));
    }
  }
}
inline void unpack_q4_k(const uint8_t* b, uint8_t* q) { unpack_nibbles_k(b + offsetof(BlockQ4_K, qs), q); }
inline void unpack_q5_k(const uint8_t* b, uint8_t* q) {
  unpack_nibbles_k(b + offsetof(BlockQ5_K, qs), q);
  const uint8_t* qh = b + offsetof(BlockQ5_K, qh);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (((qh[l] >> (2 * c)) & 1) << 4));
      q[64 * c + 32 + l] = static_cast<uint8_t>(q[64 * c + 32 + l] | (((qh[l] >> (2 * c + 1)) & 1) << 4));
    }
  }
}
// q: 256 values in [0, 31].
inline void pack_q5_k(const uint8_t* q, uint8_t* b) {
  pack_nibbles_k(q, b + offsetof(BlockQ5_K, qs));
  uint8_t* qh = b + offsetof(BlockQ5_K, qh);
  for (int l = 0; l < 32; ++l) {
    int v = 0;
    for (int c = 0; c < 4; ++c) {
      v |= ((q[64 * c + l] >> 4) & 1) << (2 * c);
      v |= ((q[64 * c + 32 + l] >> 4) & 1) << (2 * c + 1);
    }
    qh[l] = static_cast<uint8_t>(v);
  }
}

// Q6_K values -32..31 (see blocks.h for the ql/qh order).
inline void unpack_q6_k(const uint8_t* b, int8_t* q) {
  const uint8_t* ql = b + offsetof(BlockQ6_K, ql);
  const uint8_t* qh = b + offsetof(BlockQ6_K, qh);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* l4 = ql + 64 * h;
    const uint8_t* h2 = qh + 32 * h;
    int8_t* y = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      y[l] = static_cast<int8_t>(((l4[l] & 0x0f) | (((h2[l] >> 0) & 3) << 4)) - 32);
      y[l + 32] = static_cast<int8_t>(((l4[l + 32] & 0x0f) | (((h2[l] >> 2) & 3) << 4)) - 32);
      y[l + 64] = static_cast<int8_t>(((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4)) - 32);
      y[l + 96] = static_cast<int8_t>(((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4)) - 32);
    }
  }
}
// q: 256 values in [0, 63].
inline void pack_q6_k(const uint8_t* q, uint8_t* b) {
  uint8_t* ql = b + offsetof(BlockQ6_K, ql);
  uint8_t* qh = b + offsetof(BlockQ6_K, qh);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* e = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      ql[64 * h + l] = static_cast<uint8_t>((e[l] & 0x0f) | ((e[l + 64] & 0x0f) << 4));
      ql[64 * h + l + 32] = static_cast<uint8_t>((e[l + 32] & 0x0f) | ((e[l + 96] & 0x0f) << 4));
      qh[32 * h + l] = static_cast<uint8_t>((e[l] >> 4) | ((e[l + 32] >> 4) << 2) |
                                            ((e[l + 64] >> 4) << 4) | ((e[l + 96] >> 4) << 6));
    }
  }
}

}  // namespace dari::tensor_detail
