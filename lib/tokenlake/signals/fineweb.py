"""FineWeb quality signals (Penedo et al. 2024, as in datatrove's FineWebQualityFilter).

Share of lines ending in terminal punctuation, share of short lines, characters in duplicated
lines, and newlines per word (list-like pages). ``short_line_length`` is part of the signal
definition; the ratios' thresholds are decisions.
"""
from __future__ import annotations

import regex

from .gopher import _duplicates

# A line "ends in terminal punctuation": Unicode's Sentence_Terminal (. ! ? and their forms in
# every script), plus the ellipsis character.
_ENDS_TERMINAL = regex.compile(r"[\p{Sentence_Terminal}…]\Z")


def fineweb_signals(text: str, n_words: int, short_line_length: int = 30) -> dict[str, float]:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return {"fineweb_line_punct_ratio": 0.0, "fineweb_short_line_ratio": 1.0,
                "fineweb_char_dup_ratio": 0.0, "fineweb_list_ratio": 0.0}
    flat = len(text.replace("\n", "")) or 1
    return {
        "fineweb_line_punct_ratio": sum(_ENDS_TERMINAL.search(line) is not None for line in lines) / len(lines),
        "fineweb_short_line_ratio": sum(len(line) <= short_line_length for line in lines) / len(lines),
        "fineweb_char_dup_ratio": _duplicates(lines)[1] / flat,
        "fineweb_list_ratio": text.count("\n") / n_words if n_words else float(text.count("\n")),
    }
