#!/usr/bin/python3
"""Trains dari-tiny, a small Llama-architecture model, and saves a Hugging Face-style checkpoint.

Architecture: RMSNorm, rotary position embeddings (Hugging Face rotate-half layout), grouped-query
attention, SwiGLU feed-forward, tied input/output embeddings. Everything is seeded; on the same
torch build and thread count, a re-run gives the same weights.

Usage: train.py WORK_DIR [--steps N]
Reads WORK_DIR/{train,valid}.txt and WORK_DIR/tokenizer.model; writes WORK_DIR/checkpoint/
(config.json, model.safetensors, tokenizer.model, tokenizer_config.json) and prints the held-out
perplexity.
"""
import argparse
import json
import math
import os
import shutil
import struct
import time
from pathlib import Path

# One BLAS thread: torch already parallelises over the cores, and a second pool of spinning
# OpenBLAS threads on top of it slows training several times on a 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CONFIG = {
    "vocab_size": 4096,
    "hidden_size": 192,
    "intermediate_size": 512,
    "num_hidden_layers": 6,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
}
SEQ_LEN = 256
BATCH = 16
LR = 3e-3
SEED = 1234


class RMSNorm(torch.nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        d, h, kv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.n_head, self.n_kv, self.head_dim = h, kv, d // h
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.q_proj = torch.nn.Linear(d, h * self.head_dim, bias=False)
        self.k_proj = torch.nn.Linear(d, kv * self.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(d, kv * self.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(h * self.head_dim, d, bias=False)
        self.gate_proj = torch.nn.Linear(d, c["intermediate_size"], bias=False)
        self.up_proj = torch.nn.Linear(d, c["intermediate_size"], bias=False)
        self.down_proj = torch.nn.Linear(c["intermediate_size"], d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        y = self.input_layernorm(x)
        q = self.q_proj(y).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(y).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(y).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.n_head // self.n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        a = att.masked_fill(mask, float("-inf")).softmax(-1) @ v
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, t, -1))
        y = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class TinyLlama(torch.nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = torch.nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        head_dim = c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
        freqs = torch.outer(torch.arange(c["max_position_embeddings"]).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["num_hidden_layers"]) if name.endswith(
                    ("o_proj.weight", "down_proj.weight")) else 0.02
                torch.nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.embed_tokens(idx)
        cos, sin = self.cos[:t], self.sin[:t]
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x) @ self.embed_tokens.weight.T  # tied output


def hf_state_dict(model: TinyLlama) -> dict:
    out = {"model.embed_tokens.weight": model.embed_tokens.weight,
           "model.norm.weight": model.norm.weight}
    for i, layer in enumerate(model.layers):
        p = f"model.layers.{i}."
        out[p + "input_layernorm.weight"] = layer.input_layernorm.weight
        out[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            out[p + f"self_attn.{n}.weight"] = getattr(layer, n).weight
        for n in ("gate_proj", "up_proj", "down_proj"):
            out[p + f"mlp.{n}.weight"] = getattr(layer, n).weight
    return {k: v.detach().float().contiguous().numpy() for k, v in out.items()}


def write_safetensors(path: Path, tensors: dict) -> None:
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def batches(tokens: np.ndarray, rng: np.random.Generator):
    while True:
        starts = rng.integers(0, len(tokens) - SEQ_LEN - 1, size=BATCH)
        x = np.stack([tokens[s:s + SEQ_LEN + 1] for s in starts]).astype(np.int64)
        yield torch.from_numpy(x[:, :-1]), torch.from_numpy(x[:, 1:])


@torch.no_grad()
def perplexity(model: TinyLlama, tokens: np.ndarray) -> float:
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(tokens) - SEQ_LEN - 1, SEQ_LEN):
        x = torch.from_numpy(tokens[s:s + SEQ_LEN + 1].astype(np.int64))[None]
        logits = model(x[:, :-1])
        total += F.cross_entropy(logits[0], x[0, 1:], reduction="sum").item()
        count += SEQ_LEN
    model.train()
    return math.exp(total / count)


def encode_file(sp: spm.SentencePieceProcessor, path: Path) -> np.ndarray:
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        ids.extend([1] + sp.encode(line))  # BOS starts each chapter
    return np.array(ids, dtype=np.int32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)

    sp = spm.SentencePieceProcessor(model_file=str(args.work / "tokenizer.model"))
    train = encode_file(sp, args.work / "train.txt")
    valid = encode_file(sp, args.work / "valid.txt")
    print(f"tokens: train {len(train)}, held out {len(valid)}")

    model = TinyLlama(CONFIG)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}")
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 30)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))))
    t0 = time.time()
    gen = batches(train, rng)
    for step in range(args.steps):
        x, y = next(gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.steps - 1:
            el = time.time() - t0
            print(f"step {step} loss {loss.item():.3f} {el:.0f}s "
                  f"({(step + 1) * BATCH * SEQ_LEN / max(el, 1e-9):.0f} tok/s)", flush=True)
    minutes = (time.time() - t0) / 60
    ppl = perplexity(model, valid)
    print(f"training time {minutes:.1f} min; held-out perplexity {ppl:.2f}")

    ckpt = args.work / "checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    write_safetensors(ckpt / "model.safetensors", hf_state_dict(model))
    config = dict(CONFIG, architectures=["LlamaForCausalLM"], model_type="llama",
                  hidden_act="silu", tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                  torch_dtype="float32", head_dim=CONFIG["hidden_size"] // CONFIG["num_attention_heads"])
    (ckpt / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(args.work / "tokenizer.model", ckpt / "tokenizer.model")
    tok_config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "add_bos_token": True, "add_eos_token": False,
                  "model_max_length": CONFIG["max_position_embeddings"]}
    (ckpt / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")
    (ckpt / "training.json").write_text(json.dumps(
        {"steps": args.steps, "batch": BATCH, "seq_len": SEQ_LEN, "lr": LR, "seed": SEED,
         "parameters": n_params, "train_tokens": int(len(train)),
         "heldout_tokens": int(len(valid)), "heldout_perplexity": ppl,
         "training_minutes": minutes, "torch": torch.__version__}, indent=2) + "\n")
    sample(model, sp)


@torch.no_grad()
def sample(model: TinyLlama, sp: spm.SentencePieceProcessor) -> None:
    model.eval()
    ids = [1] + sp.encode("And it came to pass")
    for _ in range(40):
        ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    print("greedy sample:", sp.decode(ids[1:]))


if __name__ == "__main__":
    main()
