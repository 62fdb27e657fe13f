"""Basic text statistics: characters, words, non-empty lines.

Words are runs of letters/digits, except that each CJK ideograph, kana and Thai character counts as
a word of its own: those scripts do not separate words with spaces, and a space-based count would
make every Chinese or Japanese page look like a three-word page.
"""
from __future__ import annotations

import re

import pyarrow as pa

_NO_SPACE_SCRIPTS = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_NO_SPACE_SCRIPTS}]|[^\\W_{_NO_SPACE_SCRIPTS}]+")


def count_words(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))


def count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def text_stats(texts: pa.Array) -> dict[str, pa.Array]:
    values = texts.to_pylist()
    return {
        "n_chars": pa.array([len(t) for t in values], pa.int64()),
        "n_words": pa.array([count_words(t) for t in values], pa.int64()),
        "n_lines": pa.array([count_lines(t) for t in values], pa.int64()),
    }
