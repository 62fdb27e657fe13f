"""Gopher quality and repetition signals (Rae et al. 2021, table A1; as datatrove computes them).

Signals only: every value the Gopher rules compare with a threshold, so thresholds can change
without recomputing anything. The rules themselves live in ``stages/quality.py``.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter

from .words import split_words

STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def is_symbol(word: str) -> bool:
    """A token made only of punctuation, symbols or control characters."""
    return all(unicodedata.category(c)[0] in "PSCZ" for c in word)


def quality_signals(text: str, words: list[str] | None = None) -> dict[str, float]:
    words = split_words(text) if words is None else words
    n = len(words)
    content = [w for w in words if not is_symbol(w)]
    lines = text.splitlines() or [""]
    return {
        "gopher_words": float(len(content)),
        "gopher_mean_word_length": (sum(map(len, content)) / len(content)) if content else 0.0,
        "gopher_hash_ratio": text.count("#") / n if n else 0.0,
        "gopher_ellipsis_ratio": (text.count("...") + text.count("…")) / n if n else 0.0,
        "gopher_bullet_lines_ratio": sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines),
        "gopher_end_ellipsis_lines_ratio": sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines),
        "gopher_alpha_words_ratio": sum(any(c.isalpha() for c in w) for w in words) / n if n else 0.0,
        "gopher_stop_words": float(len(STOP_WORDS.intersection(words))),
    }


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated items, characters in the repeats): every occurrence after the first counts."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def _top_ngram_chars(words: list[str], n: int) -> int:
    grams = Counter(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    if not grams:
        return 0
    gram, count = grams.most_common(1)[0]
    return len(gram) * count


def _dup_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by n-grams seen before, skipping past each repeat (no double count)."""
    seen: set[str] = set()
    chars, i, last = 0, 0, len(words) - n + 1
    while i < last:
        gram = "".join(words[i:i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def repetition_signals(text: str, words: list[str] | None = None) -> dict[str, float]:
    size = len(text) or 1
    paragraphs = _PARAGRAPH.split(text.strip())
    p_dup, p_chars = _duplicates(paragraphs)
    lines = _LINES.split(text)
    l_dup, l_chars = _duplicates(lines)
    words = split_words(text) if words is None else words
    out = {
        "gopher_dup_para_frac": p_dup / len(paragraphs),
        "gopher_dup_para_char_frac": p_chars / size,
        "gopher_dup_line_frac": l_dup / len(lines),
        "gopher_dup_line_char_frac": l_chars / size,
    }
    for n in TOP_NGRAMS:
        out[f"gopher_top_{n}_gram_char_frac"] = _top_ngram_chars(words, n) / size
    for n in DUP_NGRAMS:
        out[f"gopher_dup_{n}_gram_char_frac"] = _dup_ngram_chars(words, n) / size
    return out
