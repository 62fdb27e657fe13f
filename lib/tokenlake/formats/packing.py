"""Packing documents into fixed-length sequences for the pre-packed formats (MDS, LitData, Parquet).

Two policies, both deterministic given the document order:

- ``concat``: documents back to back, cut every ``seq_len`` tokens (GPT-style concatenate-and-split).
  The tail that does not fill a last sequence is dropped and counted as truncated.
- ``best_fit``: documents longer than ``seq_len`` are first split into ``seq_len`` pieces; pieces
  then go, longest first, into the open sequence with the least room that still fits them
  (best-fit decreasing), and every sequence is padded to ``seq_len``. No token is lost; the
  padding is counted.

Packing runs per shard, inside the task that writes it, so it needs one shard's documents only.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

POLICIES = ("concat", "best_fit")


@dataclass
class PackStats:
    n_sequences: int = 0
    n_doc_tokens: int = 0     # tokens that came in
    n_pad: int = 0            # padding tokens written
    n_truncated: int = 0      # document tokens not written

    def add(self, other: "PackStats") -> None:
        self.n_sequences += other.n_sequences
        self.n_doc_tokens += other.n_doc_tokens
        self.n_pad += other.n_pad
        self.n_truncated += other.n_truncated

    def as_dict(self, seq_len: int) -> dict:
        slots = max(self.n_sequences * seq_len, 1)
        return {"n_sequences": self.n_sequences, "n_doc_tokens": self.n_doc_tokens, "n_pad": self.n_pad,
                "n_truncated": self.n_truncated, "padding_ratio": round(self.n_pad / slots, 6),
                "truncation_ratio": round(self.n_truncated / max(self.n_doc_tokens, 1), 6)}


def best_fit(docs: list[np.ndarray], seq_len: int, pad_id: int) -> tuple[np.ndarray, np.ndarray, PackStats]:
    """(n, seq_len) array from best-fit-decreasing bins, padded with ``pad_id``; the tokens used
    in each; counts.

    Ties are broken by the pieces' order of arrival (a stable sort), and bins by creation order,
    so the result depends only on the document order.
    """
    pieces: list[np.ndarray] = []
    for d in docs:
        pieces.extend(d[i:i + seq_len] for i in range(0, len(d), seq_len))
    order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
    bins: list[list[int]] = []          # piece indices per sequence
    room: list[tuple[int, int]] = []    # sorted (free tokens, bin index)
    for i in order:
        size = len(pieces[i])
        if size == 0:
            continue
        at = bisect.bisect_left(room, (size, -1))
        if at < len(room):
            free, b = room.pop(at)
        else:
            b, free = len(bins), seq_len
            bins.append([])
        bins[b].append(i)
        if free - size > 0:
            bisect.insort(room, (free - size, b))
    out = np.full((len(bins), seq_len), pad_id, dtype=np.int64)
    fill = np.zeros(len(bins), dtype=np.int64)
    for b, members in enumerate(bins):
        at = 0
        for i in members:
            p = pieces[i]
            out[b, at:at + len(p)] = p
            at += len(p)
        fill[b] = at
    n_tok = int(fill.sum())
    return out, fill, PackStats(len(bins), n_tok, len(bins) * seq_len - n_tok, 0)


BLOCK_TOKENS = 1 << 22


class FlatPacker:
    """Sequences from a shard's flat token array (documents in order, with their lengths), in
    blocks, so a concat-packed shard is never held twice in memory. ``stats`` is final once the
    generator is exhausted."""

    def __init__(self, seq_len: int, policy: str, pad_id: int):
        if policy not in POLICIES:
            raise ValueError(f"unknown packing policy {policy!r}; use one of {POLICIES}")
        self.seq_len, self.policy, self.pad_id = seq_len, policy, pad_id
        self.stats = PackStats()

    def sequences(self, flat: np.ndarray, lens: np.ndarray):
        L = self.seq_len
        if self.policy == "concat":
            n = len(flat) // L
            self.stats.add(PackStats(n, len(flat), 0, len(flat) - n * L))
            step = max(BLOCK_TOKENS // L, 1)
            for a in range(0, n, step):
                b = min(a + step, n)
                yield np.asarray(flat[a * L:b * L]).reshape(b - a, L), np.full(b - a, L, np.int64)
            return
        bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        docs = [np.asarray(flat[bounds[i]:bounds[i + 1]]) for i in range(len(lens))]
        seqs, fill, st = best_fit(docs, L, self.pad_id)
        self.stats.add(st)
        step = max(BLOCK_TOKENS // L, 1)
        for a in range(0, len(seqs), step):
            yield seqs[a:a + step], fill[a:a + step]
