#!/usr/bin/python3
"""Extracts the King James Version of the Bible (public domain) from Debian's bible-kjv-text
package and writes plain-text training and held-out files.

The `bible` program (package bible-kjv) prints the text with chapter headings and verse
numbers; this script keeps only the verse text, one chapter per paragraph. Every 40th chapter
is held out for evaluation. Output: OUT_DIR/train.txt, OUT_DIR/valid.txt.
"""
import re
import subprocess
import sys
from pathlib import Path


def read_kjv() -> list[str]:
    raw = subprocess.run(["bible", "gen1:1-rev22:21"], check=True, capture_output=True,
                         text=True).stdout
    chapters: list[str] = []
    verses: list[str] = []
    current = ""
    for line in raw.splitlines():
        if re.match(r"^\S.* \d+$", line) and not line.startswith(" "):  # chapter heading
            if current:
                verses.append(current.strip())
            if verses:
                chapters.append(" ".join(verses))
            verses, current = [], ""
            continue
        m = re.match(r"^\s+\d+ (.*)$", line)
        if m:  # a new verse starts
            if current:
                verses.append(current.strip())
            current = m.group(1)
        elif line.strip():
            current += " " + line.strip()
    if current:
        verses.append(current.strip())
    if verses:
        chapters.append(" ".join(verses))
    return chapters


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "work")
    out.mkdir(parents=True, exist_ok=True)
    chapters = read_kjv()
    train = [c for i, c in enumerate(chapters) if i % 40 != 39]
    valid = [c for i, c in enumerate(chapters) if i % 40 == 39]
    (out / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (out / "valid.txt").write_text("\n".join(valid) + "\n", encoding="utf-8")
    print(f"chapters: {len(chapters)} (train {len(train)}, held out {len(valid)}); "
          f"train bytes {sum(map(len, train))}, held-out bytes {sum(map(len, valid))}")


if __name__ == "__main__":
    main()
