#version 450
// ADD (op 0), MUL (op 1), SILU_MUL (op 2): c = f(a, b) per element, F32. b may be one row
// (broadcast: the host passes zero strides for its view). A workgroup covers 1024 columns of
// one row.
#include "common.glsl"
#include "rows.glsl"
layout(local_size_x = 256) in;

void main() {
  uint lr = local_row();
  if (lr >= pc.nrows) return;
  uint r = pc.r0 + lr;
  uint ao = off_a(r), bo = off_b(r), co = off_c(r);
  // Each workgroup covers 1024 columns, 4 per thread (256 apart).
  for (uint j = gl_WorkGroupID.x * 1024u + gl_LocalInvocationID.x;
       j < min(pc.ne0, (gl_WorkGroupID.x + 1u) * 1024u); j += 256u) {
    float a = LD_F32(b0, ao + 4u * j);
    float b = LD_F32(b1, bo + 4u * j);
    float y;
    if (pc.op == 0u) {
      y = a + b;
    } else if (pc.op == 1u) {
      y = a * b;
    } else {
      y = a / (1.0 + exp(-a)) * b;
    }
    b2[(co + 4u * j) >> 2] = floatBitsToUint(y);
  }
}
