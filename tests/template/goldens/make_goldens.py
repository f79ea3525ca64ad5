#!/usr/bin/python3
"""Regenerates index.json and expected/ in this folder with Python Jinja2.

Run from anywhere with a Python that has jinja2 (the goldens were made with jinja2 3.1.2 and
markupsafe 2.1.2, Debian's python3-jinja2):  /usr/bin/python3 tests/template/goldens/make_goldens.py

The rendering follows tests/data/chat-templates/README.md exactly (transformers-style
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loopcontrols; tojson as
json.dumps(ensure_ascii=False); raise_exception; strftime_now at 2024-07-26 00:00:00). The
templates are read from tests/data/chat-templates/; bos_token, eos_token and extra_vars per
template are taken from that folder's index.json (firefunction-v2's `functions` is the case's
tools as JSON).
"""
import hashlib
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "data", "chat-templates"))

TEMPLATES = [
    "meetkai-functionary-medium-v3.1",
    "meetkai-functionary-medium-v3.2",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
    "Qwen-Qwen2.5-7B-Instruct",
    "Qwen-Qwen3-0.6B",
    "llama-cpp-deepseek-r1",
    "deepseek-ai-DeepSeek-V3.1",
    "meta-llama-Llama-3.1-8B-Instruct",
    "meta-llama-Llama-3.2-3B-Instruct",
    "mistralai-Mistral-Nemo-Instruct-2407",
    "Mistral-Small-3.2-24B-Instruct-2506",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use",
    "fireworks-ai-llama-3-firefunction-v2",
]


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime(2024, 7, 26).strftime(fmt)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now

    data_index = json.load(open(os.path.join(DATA, "index.json"), encoding="utf-8"))
    per_template = {}
    for e in data_index["entries"]:
        per_template.setdefault(e["template"], e)
    cases = json.load(open(os.path.join(HERE, "cases.json"), encoding="utf-8"))

    os.makedirs(os.path.join(HERE, "expected"), exist_ok=True)
    entries = []
    for name in TEMPLATES:
        ref = per_template[name]
        path = os.path.join(DATA, name + ".jinja")
        source = open(path, encoding="utf-8").read()
        template = env.from_string(source)
        for case in cases:
            extra = dict(ref["extra_vars"])
            if "functions" in extra:
                extra["functions"] = json.dumps(case["tools"], ensure_ascii=False)
            kwargs = dict(messages=case["messages"], tools=case["tools"],
                          add_generation_prompt=case["add_generation_prompt"])
            if ref["bos_token"] is not None:
                kwargs["bos_token"] = ref["bos_token"]
            if ref["eos_token"] is not None:
                kwargs["eos_token"] = ref["eos_token"]
            kwargs.update(extra)
            entry = {
                "template": name,
                "template_file": name + ".jinja",
                "template_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
                "case": case["name"],
                "bos_token": ref["bos_token"],
                "eos_token": ref["eos_token"],
                "add_generation_prompt": case["add_generation_prompt"],
                "tools_passed": True,
                "extra_vars": extra,
            }
            try:
                out = template.render(**kwargs)
            except Exception as exc:  # recorded; the test checks that dari fails too
                entry.update(status="error", error=f"{type(exc).__name__}: {exc}",
                             expected_file=None)
            else:
                rel = f"expected/{name}__{case['name']}.txt"
                with open(os.path.join(HERE, rel), "wb") as f:
                    f.write(out.encode("utf-8"))
                entry.update(status="ok", error=None, expected_file=rel)
            entries.append(entry)
    index = {
        "renderer": f"python jinja2 {jinja2.__version__}, transformers-style environment",
        "fixed_now": "2024-07-26T00:00:00",
        "templates_dir": "tests/data/chat-templates",
        "entries": entries,
    }
    with open(os.path.join(HERE, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
