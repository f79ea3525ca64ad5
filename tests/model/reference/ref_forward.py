#!/usr/bin/python3
"""Independent float64 reference forward pass for llama-architecture GGUF files (F32/F16).

Pure Python (no numpy needed). Used at test-generation time to write the golden files in
tests/model/golden/, which the C++ test golden_test.cpp compares against. Not run by CTest.

Usage: ref_forward.py MODEL.gguf OUT.txt --tokens 1,403,... --full-rows 0,4 --summary-rows 0,2
  full rows:    every logit of that position is written
  summary rows: top-16 (id, value), the sum, the sum of squares and every 1000th logit
"""
import argparse
import math
import struct

GGUF_TYPES = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q',
              12: 'd'}


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from('<' + fmt, self.d, self.p)
        self.p += struct.calcsize('<' + fmt)
        return v[0]

    def string(self):
        n = self.take('Q')
        s = self.d[self.p:self.p + n].decode('utf-8', errors='replace')
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et = self.take('I')
            n = self.take('Q')
            return [self.value(et) for _ in range(n)]
        return self.take(GGUF_TYPES[t])


def load_gguf(path):
    data = open(path, 'rb').read()
    r = Reader(data)
    assert data[:4] == b'GGUF'
    r.p = 4
    r.take('I')  # version
    n_tensors = r.take('Q')
    n_kv = r.take('Q')
    meta = {}
    for _ in range(n_kv):
        k = r.string()
        meta[k] = r.value(r.take('I'))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take('I')
        ne = [r.take('Q') for _ in range(nd)]
        infos.append((name, ne, r.take('I'), r.take('Q')))
    align = meta.get('general.alignment', 32)
    start = (r.p + align - 1) // align * align
    tensors = {}
    for name, ne, typ, off in infos:
        n = 1
        for x in ne:
            n *= x
        if typ == 0:
            vals = struct.unpack_from('<%df' % n, data, start + off)
        elif typ == 1:
            vals = struct.unpack_from('<%de' % n, data, start + off)
        else:
            raise SystemExit('unsupported tensor type %d for %s' % (typ, name))
        rows = 1 if len(ne) == 1 else n // ne[0]
        tensors[name] = [list(vals[i * ne[0]:(i + 1) * ne[0]]) for i in range(rows)]
    return meta, tensors


def rmsnorm(x, w, eps):
    s = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [v * s * wi for v, wi in zip(x, w)]


def matvec(rows, x):  # rows: [out][in]
    return [sum(a * b for a, b in zip(r, x)) for r in rows]


def rope(vec, n_heads, hd, n_rot, pos, base):
    out = list(vec)
    for h in range(n_heads):
        for i in range(n_rot // 2):
            theta = pos * base ** (-2.0 * i / n_rot)
            c, s = math.cos(theta), math.sin(theta)
            a, b = h * hd + 2 * i, h * hd + 2 * i + 1
            out[a] = vec[a] * c - vec[b] * s
            out[b] = vec[a] * s + vec[b] * c
    return out


def forward(meta, t, tokens):
    a = meta['general.architecture']
    assert a == 'llama'
    n_embd = meta[a + '.embedding_length']
    n_layer = meta[a + '.block_count']
    n_head = meta[a + '.attention.head_count']
    n_kv = meta.get(a + '.attention.head_count_kv', n_head)
    hd = n_embd // n_head
    n_rot = meta.get(a + '.rope.dimension_count', hd)
    eps = meta.get(a + '.attention.layer_norm_rms_epsilon', 1e-5)
    base = meta.get(a + '.rope.freq_base', 10000.0)
    out_w = t.get('output.weight', t['token_embd.weight'])
    keys = [[] for _ in range(n_layer)]
    vals = [[] for _ in range(n_layer)]
    logits = []
    for pos, tok in enumerate(tokens):
        x = list(t['token_embd.weight'][tok])
        for il in range(n_layer):
            p = 'blk.%d.' % il
            h = rmsnorm(x, t[p + 'attn_norm.weight'][0], eps)
            q = rope(matvec(t[p + 'attn_q.weight'], h), n_head, hd, n_rot, pos, base)
            k = rope(matvec(t[p + 'attn_k.weight'], h), n_kv, hd, n_rot, pos, base)
            v = matvec(t[p + 'attn_v.weight'], h)
            keys[il].append(k)
            vals[il].append(v)
            att = []
            for hh in range(n_head):
                kh = hh // (n_head // n_kv)
                qh = q[hh * hd:(hh + 1) * hd]
                sc = [sum(qa * kb for qa, kb in zip(qh, kk[kh * hd:(kh + 1) * hd])) / math.sqrt(hd)
                      for kk in keys[il]]
                m = max(sc)
                e = [math.exp(s - m) for s in sc]
                z = sum(e)
                for d in range(hd):
                    att.append(sum(e[j] * vals[il][j][kh * hd + d] for j in range(len(e))) / z)
            o = matvec(t[p + 'attn_output.weight'], att)
            x = [a1 + b1 for a1, b1 in zip(x, o)]
            h = rmsnorm(x, t[p + 'ffn_norm.weight'][0], eps)
            g = matvec(t[p + 'ffn_gate.weight'], h)
            u = matvec(t[p + 'ffn_up.weight'], h)
            f = [gi / (1.0 + math.exp(-gi)) * ui for gi, ui in zip(g, u)]
            d = matvec(t[p + 'ffn_down.weight'], f)
            x = [a1 + b1 for a1, b1 in zip(x, d)]
        xn = rmsnorm(x, t['output_norm.weight'][0], eps)
        logits.append(matvec(out_w, xn))
    return logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('out')
    ap.add_argument('--tokens', required=True)
    ap.add_argument('--full-rows', default='')
    ap.add_argument('--summary-rows', default='')
    args = ap.parse_args()
    tokens = [int(v) for v in args.tokens.split(',')]
    meta, t = load_gguf(args.model)
    logits = forward(meta, t, tokens)
    with open(args.out, 'w') as f:
        f.write('# float64 reference logits from tests/model/reference/ref_forward.py\n')
        f.write('tokens %s\n' % ' '.join(map(str, tokens)))
        for pos in [int(v) for v in args.full_rows.split(',') if v]:
            row = logits[pos]
            f.write('full %d %d %s\n' % (pos, len(row), ' '.join('%.6f' % v for v in row)))
        for pos in [int(v) for v in args.summary_rows.split(',') if v]:
            row = logits[pos]
            top = sorted(range(len(row)), key=lambda i: -row[i])[:16]
            f.write('top %d %s\n' % (pos, ' '.join('%d:%.7f' % (i, row[i]) for i in top)))
            f.write('sum %d %.7f %.7f\n' % (pos, sum(row), sum(v * v for v in row)))
            f.write('sample %d %s\n' % (pos, ' '.join('%d:%.7f' % (i, row[i])
                                                        for i in range(0, len(row), 1000))))


if __name__ == '__main__':
    main()
