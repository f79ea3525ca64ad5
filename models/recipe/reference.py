#!/usr/bin/python3
"""Writes reference outputs of a trained dari-tiny checkpoint for dari's tests.

Loads WORK_DIR/checkpoint/model.safetensors into the training code's model (float32, PyTorch)
and records, for a fixed prompt: the prompt ids, the logits of every vocabulary entry at the
last prompt position, and 24 greedy continuation ids. dari's test compares its own forward pass
over the converted GGUF file against these.

Usage: reference.py WORK_DIR OUT.json
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch

import train

PROMPT = "And it came to pass"
N_GREEDY = 24


def read_safetensors(path: Path) -> dict:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + begin:base + end], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def load_model(ckpt: Path) -> train.TinyLlama:
    model = train.TinyLlama(train.CONFIG)
    tensors = read_safetensors(ckpt / "model.safetensors")
    with torch.no_grad():
        model.embed_tokens.weight.copy_(tensors["model.embed_tokens.weight"])
        model.norm.weight.copy_(tensors["model.norm.weight"])
        for i, layer in enumerate(model.layers):
            p = f"model.layers.{i}."
            layer.input_layernorm.weight.copy_(tensors[p + "input_layernorm.weight"])
            layer.post_attention_layernorm.weight.copy_(tensors[p + "post_attention_layernorm.weight"])
            for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
                getattr(layer, n).weight.copy_(tensors[p + f"self_attn.{n}.weight"])
            for n in ("gate_proj", "up_proj", "down_proj"):
                getattr(layer, n).weight.copy_(tensors[p + f"mlp.{n}.weight"])
    model.eval()
    return model


@torch.no_grad()
def main() -> None:
    work, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = load_model(work / "checkpoint")
    sp = spm.SentencePieceProcessor(model_file=str(work / "checkpoint" / "tokenizer.model"))
    ids = [1] + sp.encode(PROMPT)
    logits = model(torch.tensor([ids]))[0, -1].double()
    greedy = list(ids)
    for _ in range(N_GREEDY):
        greedy.append(int(model(torch.tensor([greedy]))[0, -1].argmax()))
    result = {
        "prompt": PROMPT,
        "prompt_ids": ids,
        "last_logits": [round(float(x), 5) for x in logits],
        "greedy_ids": greedy[len(ids):],
        "greedy_text": sp.decode(greedy[len(ids):]),
    }
    out.write_text(json.dumps(result) + "\n")
    print(f"prompt ids {ids}; greedy: {result['greedy_text']!r}")


if __name__ == "__main__":
    main()
