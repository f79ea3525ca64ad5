#!/usr/bin/python3
"""Trains the SentencePiece tokenizer of dari-tiny on WORK_DIR/train.txt.

BPE with byte fallback (so any UTF-8 text can be encoded), digits split, the usual
<unk>=0 / <s>=1 / </s>=2 ids of Llama-style vocabularies. Output: WORK_DIR/tokenizer.model.
"""
import sys
from pathlib import Path

import sentencepiece as spm

VOCAB_SIZE = 4096


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "work")
    spm.SentencePieceTrainer.train(
        input=str(work / "train.txt"),
        model_prefix=str(work / "tokenizer"),
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        max_sentence_length=1 << 16,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=2,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(work / "tokenizer.model"))
    print("vocab", sp.get_piece_size(), "sample:", sp.encode("In the beginning God created", out_type=str))


if __name__ == "__main__":
    main()
