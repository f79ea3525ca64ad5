#version 450
// ADD (op 0), MUL (op 1), SILU_MUL (op 2): c = f(a, b) per element, F32. b may be one row
// (broadcast: the host passes zero strides for its view). One thread per element.
#include "common.glsl"
#include "rows.glsl"
layout(local_size_x = 256) in;

void main() {
  uint lr = local_row();
  uint j = gl_WorkGroupID.x * 256u + gl_LocalInvocationID.x;
  if (lr >= pc.nrows || j >= pc.ne0) return;
  uint r = pc.r0 + lr;
  float a = LD_F32(b0, off_a(r) + 4u * j);
  float b = LD_F32(b1, off_b(r) + 4u * j);
  float y;
  if (pc.op == 0u) {
    y = a + b;
  } else if (pc.op == 1u) {
    y = a * b;
  } else {
    y = a / (1.0 + exp(-a)) * b;
  }
  b2[(off_c(r) + 4u * j) >> 2] = floatBitsToUint(y);
}
