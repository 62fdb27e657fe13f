"""MinHash signatures of word n-gram shingles, vectorized with Arrow compute and numpy.

Why this shape: the signature pass touches every word of the lake, so it must not loop in Python
per word or per shingle. Text is normalized and split into words with Arrow's vectorized string
kernels; every word of a batch is hashed at once with a 64-bit polynomial hash over the UTF-8
bytes (prefix sums, arithmetic mod 2^64); n-gram shingles combine n consecutive word hashes;
the ``num_hashes`` permutations ``a*x + b mod 2^64`` (odd ``a``, fixed seed) are applied to
blocks of shingles as a numpy matrix and reduced with ``minimum.reduceat`` per document.

Words: NFC, lower case, runs of letters, digits and combining marks; each Han, kana and Thai
character is a word of its own (those scripts do not separate words with spaces). A document
with fewer than ``ngram`` words has one shingle made of all its words; one with no word has no
signature (it is still deduplicated exactly, by its text hash).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SPACED_SCRIPTS = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]"
_NOT_WORD = r"[^\p{L}\p{N}\p{M}]+"
_U64 = np.uint64
_MASK = (1 << 64) - 1
_BYTE_BASE = 0x100000001B3          # FNV-64 prime: odd, so invertible mod 2^64
_WORD_BASE = 0x9E3779B97F4A7C15     # golden-ratio constant: odd
_CHUNK_BYTES = 1 << 20              # text bytes hashed at once (bounds the temporary arrays)
_CHUNK_SHINGLES = 8192              # shingles x num_hashes uint64 matrix per step (~7 MB at 112)


@dataclass(frozen=True)
class MinHashParams:
    ngram: int = 5
    num_hashes: int = 112
    bands: int = 14
    rows: int = 8
    seed: int = 1
    nfc: bool = True
    lowercase: bool = True

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_hashes:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_hashes = {self.num_hashes}")
        if self.ngram < 1 or self.num_hashes < 1:
            raise ValueError("ngram and num_hashes must be positive")

    @property
    def key(self) -> str:
        """What a signature depends on (not the band split): the signatures table is keyed by it."""
        return (f"minhash-v1:ngram={self.ngram}:hashes={self.num_hashes}:seed={self.seed}"
                f":nfc={int(self.nfc)}:lower={int(self.lowercase)}")


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads every input bit over all 64 output bits (wraps mod 2^64)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


_POWER_TABLES: dict[int, np.ndarray] = {}


def _powers(base: int, n: int) -> np.ndarray:
    """At least n powers base^0, base^1, ... mod 2^64; one table per base, grown by doubling."""
    table = _POWER_TABLES.get(base)
    if table is None or len(table) < n:
        size = max(n, 2 * len(table) if table is not None else 1 << 16)
        table = np.full(size, base, dtype=_U64)
        table[0] = 1
        np.cumprod(table, out=table)
        _POWER_TABLES[base] = table
    return table


@functools.cache
def permutations(num_hashes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the ``num_hashes`` permutations x -> a*x + b mod 2^64, a odd; fixed by the seed."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 2**64, size=num_hashes, dtype=_U64, endpoint=False) | _U64(1)
    b = rng.integers(0, 2**64, size=num_hashes, dtype=_U64, endpoint=False)
    return a, b


def _words(texts: pa.Array, params: MinHashParams) -> tuple[pa.Array, np.ndarray]:
    """Flattened non-empty words of ``texts`` and the word offsets of each document (len n+1)."""
    t = texts.cast(pa.large_string()).fill_null("")
    if params.nfc:
        t = pc.utf8_normalize(t, form="NFC")
    if params.lowercase:
        t = pc.utf8_lower(t)
    t = pc.replace_substring_regex(t, _SPACED_SCRIPTS, r" \0 ")
    t = pc.replace_substring_regex(t, _NOT_WORD, " ")
    t = pc.utf8_trim_whitespace(t)
    lists = pc.utf8_split_whitespace(t)
    flat = lists.flatten()
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = pc.binary_length(flat).to_numpy(zero_copy_only=False)
    doc_of = np.repeat(np.arange(len(texts)), counts)
    keep = lengths > 0
    if not keep.all():
        flat = flat.filter(pa.array(keep))
        doc_of = doc_of[keep]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc_of, minlength=len(texts)), out=offsets[1:])
    return flat, offsets


def _word_hashes(words: pa.Array) -> np.ndarray:
    """64-bit hash of each word: polynomial over its UTF-8 bytes mod 2^64, then splitmix64."""
    words = words.cast(pa.large_string())
    n = len(words)
    if n == 0:
        return np.empty(0, dtype=_U64)
    bufs = words.buffers()
    offs = np.frombuffer(bufs[1], dtype=np.int64, count=words.offset + n + 1)[words.offset:]
    start, end = offs[:-1] - offs[0], offs[1:] - offs[0]
    data = np.frombuffer(bufs[2], dtype=np.uint8, count=int(offs[-1]), offset=0)[int(offs[0]):].astype(_U64)
    total = len(data)
    pw = _powers(_BYTE_BASE, max(total, 1) + 1)
    ipw = _powers(pow(_BYTE_BASE, -1, 1 << 64), max(total, 1) + 1)
    prefix = np.zeros(total + 1, dtype=_U64)
    np.cumsum(data * ipw[:total], out=prefix[1:])
    # sum_{j in word} b_j * B^(end-1-j) = B^(end-1) * (prefix[end] - prefix[start])
    poly = pw[end - 1] * (prefix[end] - prefix[start])
    return _splitmix(poly ^ (end - start).astype(_U64) * _U64(0xD6E8FEB86659FD93))


def _shingles(wh: np.ndarray, offsets: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, shingles per document) for word hashes ``wh`` of documents at ``offsets``."""
    n_docs = len(offsets) - 1
    lens = np.diff(offsets)
    per_doc = np.where(lens >= ngram, lens - ngram + 1, np.minimum(lens, 1))
    if per_doc.sum() == 0:
        return np.empty(0, dtype=_U64), per_doc
    doc = np.repeat(np.arange(n_docs), per_doc)
    first = np.repeat(offsets[:-1], per_doc)
    starts = first + (np.arange(len(doc)) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc))
    end = offsets[1:][doc]
    acc = np.zeros(len(starts), dtype=_U64)
    padded = np.concatenate([wh, np.zeros(ngram, dtype=_U64)])
    for k in range(ngram):
        pos = starts + k
        term = np.where(pos < end, padded[np.minimum(pos, len(wh))], _U64(0))
        acc = acc * _U64(_WORD_BASE) + term
    return _splitmix(acc ^ _U64(ngram)), per_doc


def _minhash(sh: np.ndarray, per_doc: np.ndarray, params: MinHashParams) -> np.ndarray:
    """(n_docs, num_hashes) uint64 minimum of every permutation over each document's shingles."""
    a, b = permutations(params.num_hashes, params.seed)
    sig = np.full((len(per_doc), params.num_hashes), np.iinfo(_U64).max, dtype=_U64)
    doc = np.repeat(np.arange(len(per_doc)), per_doc)
    buf = np.empty((min(len(sh), _CHUNK_SHINGLES), params.num_hashes), dtype=_U64)
    for lo in range(0, len(sh), _CHUNK_SHINGLES):
        block, docs = sh[lo:lo + _CHUNK_SHINGLES], doc[lo:lo + _CHUNK_SHINGLES]
        values = buf[:len(block)]
        np.multiply.outer(block, a, out=values)  # in place: 2.5x faster than a fresh temporary
        values += b
        seg = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        mins = np.minimum.reduceat(values, seg, axis=0)
        ids = docs[seg]
        sig[ids] = np.minimum(sig[ids], mins)
    return sig


def _chunks(texts: pa.Array):
    """Slices of ``texts`` of about ``_CHUNK_BYTES`` UTF-8 bytes (at least one document each)."""
    sizes = pc.binary_length(texts.cast(pa.large_string()).fill_null("")).to_numpy(zero_copy_only=False)
    cum = np.cumsum(sizes)
    lo = 0
    while lo < len(texts):
        base = cum[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(cum, base + _CHUNK_BYTES, side="right")))
        yield lo, texts.slice(lo, hi - lo)
        lo = hi


def signatures(texts: pa.Array, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """(n, num_hashes) uint64 signatures and the number of shingles of each text (0: no signature)."""
    sig = np.empty((len(texts), params.num_hashes), dtype=_U64)
    n_sh = np.empty(len(texts), dtype=np.int64)
    for lo, part in _chunks(texts):
        words, offsets = _words(part, params)
        sh, per_doc = _shingles(_word_hashes(words), offsets, params.ngram)
        sig[lo:lo + len(part)] = _minhash(sh, per_doc, params)
        n_sh[lo:lo + len(part)] = per_doc
    return sig, n_sh


def shingle_sets(texts: pa.Array, params: MinHashParams) -> list[np.ndarray]:
    """Sorted unique shingle hashes of each text (for exact Jaccard)."""
    out: list[np.ndarray] = []
    for _, part in _chunks(texts):
        words, offsets = _words(part, params)
        sh, per_doc = _shingles(_word_hashes(words), offsets, params.ngram)
        bounds = np.r_[0, np.cumsum(per_doc)]
        out += [np.unique(sh[bounds[i]:bounds[i + 1]]) for i in range(len(part))]
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique shingle-hash arrays (two empty sets: 1.0)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def band_keys(sig: np.ndarray, params: MinHashParams) -> np.ndarray:
    """(n, bands) int64 bucket key of each band: a hash of its ``rows`` signature values."""
    rows = sig[:, :params.bands * params.rows].reshape(len(sig), params.bands, params.rows)
    acc = np.zeros((len(sig), params.bands), dtype=_U64)
    for r in range(params.rows):
        acc = acc * _U64(_WORD_BASE) + rows[:, :, r]
    return _splitmix(acc ^ np.arange(params.bands, dtype=_U64)[None, :]).view(np.int64)


def to_binary(sig: np.ndarray, n_shingles: np.ndarray) -> pa.Array:
    """Signatures as little-endian uint64 bytes per row; null where the text had no shingle."""
    raw = np.ascontiguousarray(sig.astype("<u8")).view(np.uint8).reshape(len(sig), -1)
    width = raw.shape[1]
    offsets = np.arange(len(sig) + 1, dtype=np.int32) * width
    valid = pa.array(n_shingles > 0)
    arr = pa.BinaryArray.from_buffers(pa.binary(), len(sig), [None, pa.py_buffer(offsets), pa.py_buffer(raw.tobytes())])
    return pc.if_else(valid, arr, pa.nulls(len(sig), pa.binary()))


def from_binary(col: pa.Array, num_hashes: int) -> np.ndarray:
    """Inverse of ``to_binary`` for non-null rows: (n, num_hashes) uint64."""
    col = col.cast(pa.large_binary())
    if len(col) == 0:
        return np.empty((0, num_hashes), dtype=_U64)
    bufs = col.buffers()
    offs = np.frombuffer(bufs[1], dtype=np.int64, count=col.offset + len(col) + 1)[col.offset:]
    data = np.frombuffer(bufs[2], dtype="<u8", count=int(offs[-1] // 8))[int(offs[0] // 8):]
    return data.reshape(len(col), num_hashes).astype(_U64)
