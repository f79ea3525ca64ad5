// Push constants shared by the row-wise shaders (binary, rms_norm, softmax, convert, get_rows).
// Matches RowPush in vk_ops.h. A view is {bias, nb1, nb2, nb3, ne1, ne2}: the byte offset of
// flattened row r in its binding is row_off(r, ne1, ne2, bias, nb1, nb2, nb3) (mod 2^32).
layout(push_constant) uniform RowPush {
  uint ne0;    // elements per row
  uint nrows;  // rows in this dispatch
  uint r0;     // first row (flattened index) of this dispatch
  uint op;     // shader specific (binary op code)
  float f0;    // eps (rms_norm), scale (softmax)
  uint ids;    // word offset in prm of the row id list (get_rows: [row]; convert: pairs)
  uint t0;     // src type (convert)
  uint t1;     // dst type (convert)
  uint va[6];  // view of binding 0
  uint vb[6];  // view of binding 1
  uint vc[6];  // view of binding 2
} pc;

uint off_a(uint r) { return row_off(r, pc.va[4], pc.va[5], pc.va[0], pc.va[1], pc.va[2], pc.va[3]); }
uint off_b(uint r) { return row_off(r, pc.vb[4], pc.vb[5], pc.vb[0], pc.vb[1], pc.vb[2], pc.vb[3]); }
uint off_c(uint r) { return row_off(r, pc.vc[4], pc.vc[5], pc.vc[0], pc.vc[1], pc.vc[2], pc.vc[3]); }

// Row handled by this workgroup: dispatch is (x, min(rows, 65535), ceil(rows / 65535)).
uint local_row() { return gl_WorkGroupID.y + gl_WorkGroupID.z * 65535u; }
