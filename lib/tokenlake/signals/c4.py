"""C4 signals (Raffel et al. 2020, as in the C4 code and datatrove's C4QualityFilter).

C4 keeps a line only if it ends in terminal punctuation (not an ellipsis), has at least
``min_words_per_line`` words, no word over ``max_word_length`` characters, and does not mention
javascript or a cookie/terms policy; a page goes when a kept line says "lorem ipsum" or holds a
curly bracket, or when the kept lines have fewer than 5 sentences. The line rules are part of the
signal definition (``C4Params``); the signals are the page-level facts, computed both with and
without the terminal-punctuation line rule (FineWeb turns that rule off), so either setting is a
cheap decision afterwards.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .words import split_sentences

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END = (".", "?", "!", '"', "'")
POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


@dataclass(frozen=True)
class C4Params:
    min_words_per_line: int = 3
    max_word_length: int = 1000


def _walk(text: str, p: C4Params, terminal_punct: bool) -> tuple[float, float, float, float]:
    """(lorem ipsum, curly bracket, sentences, kept lines) over the lines C4 would keep."""
    lorem = curly = 0.0
    sentences = kept = 0
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if any(len(w) > p.max_word_length for w in words):
            continue
        line = _CITATION.sub("", line)
        if terminal_punct and (not line.endswith(_END) or line.endswith("...")):
            continue
        if len(words) < p.min_words_per_line:
            continue
        low = line.lower()
        if "lorem ipsum" in low:
            lorem = 1.0
        if "javascript" in low:
            continue
        if "{" in line:
            curly = 1.0
        if any(x in low for x in POLICY):
            continue
        sentences += len(split_sentences(line))
        kept += 1
    return lorem, curly, float(sentences), float(kept)


def c4_signals(text: str, params: C4Params = C4Params()) -> dict[str, float]:
    out = {}
    for suffix, terminal in (("", True), ("_any_end", False)):
        lorem, curly, sentences, kept = _walk(text, params, terminal)
        out.update({f"c4_lorem_ipsum{suffix}": lorem, f"c4_curly_bracket{suffix}": curly,
                    f"c4_sentences{suffix}": sentences, f"c4_kept_lines{suffix}": kept})
    return out
