"""Tokenizer artifacts: train (byte-level BPE with HF ``tokenizers``, or SentencePiece BPE with byte
fallback) or load (an HF tokenizer.json, a SentencePiece .model, a tiktoken BPE file), and store
by content hash.

A tokenizer lives at ``tokenizers/<name>/<sha256>/`` (the model file + metadata.json) so every
shard version can name the exact tokenizer bytes it was made with. ``latest.json`` beside the
versions points at the most recent one for the tokenize stage. ``encoder()`` gives the function a
Python worker builds once and calls per text; all three kinds encode without adding specials
(the tokenize stage appends EOS and, if configured, prepends BOS).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from . import storage

FILES = {"hf": "tokenizer.json", "sentencepiece": "tokenizer.model", "tiktoken": "tokenizer.tiktoken"}
# The cl100k-style pre-tokenizer pattern, used for tiktoken files that come without one.
DEFAULT_TIKTOKEN_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
                            r"""|\s*[\r\n]|\s+(?!\S)|\s+""")


@dataclass(frozen=True)
class TokenizerArtifact:
    data: bytes
    sha256: str
    vocab_size: int
    eos_id: int
    bos_id: int | None = None
    kind: str = "hf"
    pattern: str | None = None                       # tiktoken only
    specials: tuple[tuple[str, int], ...] = field(default=())  # tiktoken only

    @property
    def json_text(self) -> str:
        return self.data.decode("utf-8")

    @property
    def filename(self) -> str:
        return FILES[self.kind]

    def build(self) -> Tokenizer:
        if self.kind != "hf":
            raise TypeError(f"a {self.kind} tokenizer is not an HF Tokenizer; use encoder()")
        return Tokenizer.from_str(self.json_text)

    def encoder(self) -> Callable[[list[str]], list[int]]:
        """ids of the concatenation of text pieces, no specials added."""
        if self.kind == "hf":
            tok = self.build()
            return lambda pieces: [i for enc in tok.encode_batch(pieces, add_special_tokens=False) for i in enc.ids]
        if self.kind == "sentencepiece":
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_proto=self.data)
            # SentencePiece marks word starts itself: the whole text is one piece (no splitting).
            return lambda pieces: sp.encode("".join(pieces))
        enc = tiktoken_encoding(self.data, self.pattern, dict(self.specials))
        return lambda pieces: [i for p in pieces for i in enc.encode_ordinary(p)]

    @property
    def splits_long_texts(self) -> bool:
        """Whether cutting before a space between non-spaces keeps the ids (see stages.tokenize)."""
        if self.kind == "hf":
            return hf_split_safe(json.loads(self.data))
        return self.kind == "tiktoken"  # SentencePiece marks word starts itself: always the whole text


def hf_split_safe(cfg: dict) -> bool:
    """True when every space with non-space on both sides starts a pre-token, so pieces cut there encode to
    the same ids: no normalizer (Llama-2 style ones prepend '▁') and GPT-style regex pre-tokenization (a
    ByteLevel with its regex and no added prefix space, after optional Split/Digits steps)."""
    if cfg.get("normalizer") is not None:
        return False
    pre = cfg.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    if not steps or any(s.get("type") not in ("Split", "Digits", "ByteLevel") for s in steps):
        return False
    levels = [s for s in steps if s.get("type") == "ByteLevel"]
    regex = any(s.get("type") == "Split" for s in steps) or any(s.get("use_regex", True) for s in levels)
    return bool(levels) and regex and not any(s.get("add_prefix_space") for s in levels)


def tiktoken_ranks(data: bytes) -> dict[bytes, int]:
    """A tiktoken BPE file: one ``base64(token) rank`` per line."""
    ranks = {}
    for line in data.splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def tiktoken_encoding(data: bytes, pattern: str | None, specials: dict[str, int]):
    import tiktoken

    return tiktoken.Encoding(name="tokenlake", pat_str=pattern or DEFAULT_TIKTOKEN_PATTERN,
                             mergeable_ranks=tiktoken_ranks(data), special_tokens=specials)


def artifact(data: bytes | str, eos: str, bos: str | None = None, kind: str = "hf", pattern: str | None = None,
             special_tokens: list[str] | None = None) -> TokenizerArtifact:
    """Check the tokenizer, find its EOS/BOS ids and hash it (for tiktoken: the file, pattern and specials)."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    specials: tuple[tuple[str, int], ...] = ()
    if kind == "hf":
        tok = Tokenizer.from_str(data.decode("utf-8"))
        lookup, vocab = tok.token_to_id, tok.get_vocab_size(with_added_tokens=True)
        digest = data
    elif kind == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_proto=data)
        vocab = sp.get_piece_size()

        def lookup(piece: str) -> int | None:
            i = sp.piece_to_id(piece)
            return i if sp.id_to_piece(i) == piece else None
        digest = data
    elif kind == "tiktoken":
        ranks = tiktoken_ranks(data)
        first = max(ranks.values()) + 1
        specials = tuple((s, first + i) for i, s in enumerate(special_tokens or []))
        vocab = first + len(specials)
        lookup = dict(specials).get
        pattern = pattern or DEFAULT_TIKTOKEN_PATTERN
        digest = data + json.dumps({"pattern": pattern, "specials": specials}).encode()
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    eos_id = lookup(eos)
    if eos_id is None:
        raise ValueError(f"the tokenizer has no EOS token {eos!r}; set tokenizer.eos to one of its special tokens")
    bos_id = None
    if bos is not None:
        bos_id = lookup(bos)
        if bos_id is None:
            raise ValueError(f"the tokenizer has no BOS token {bos!r}")
    return TokenizerArtifact(data, hashlib.sha256(digest).hexdigest(), vocab, eos_id, bos_id, kind,
                             pattern if kind == "tiktoken" else None, specials)


def kind_of_path(path: str) -> str:
    if path.endswith(".json"):
        return "hf"
    if path.endswith(".model"):
        return "sentencepiece"
    if path.endswith((".tiktoken", ".bpe")):
        return "tiktoken"
    raise ValueError(f"cannot tell the tokenizer kind of {path!r}: name it .json (HF), .model (SentencePiece) "
                     "or .tiktoken, or set tokenizer.load_kind")


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int, special_tokens: list[str],
                         min_frequency: int = 2) -> str:
    """Train a GPT-2 style byte-level BPE from a stream of texts; returns tokenizer.json text.

    The trainer consumes the iterator as it goes: the sample is never held as one Python list.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok.to_str()


def train_sentencepiece_bpe(texts: Iterable[str], vocab_size: int, special_tokens: list[str]) -> bytes:
    """SentencePiece BPE with byte fallback, fed line by line from a stream; returns the .model bytes.

    One thread and no input shuffling, so the same sample gives the same model bytes."""
    import sentencepiece as spm

    def lines():
        for text in texts:
            for line in text.splitlines():
                if line.strip():
                    yield line[:16384]

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=lines(), model_writer=model, vocab_size=vocab_size, model_type="bpe", byte_fallback=True,
        user_defined_symbols=list(special_tokens), bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
        character_coverage=0.9995, num_threads=1, shuffle_input_sentence=False, input_sentence_size=0,
        max_sentence_length=16384, hard_vocab_limit=False, minloglevel=2)
    return model.getvalue()


def store(root: str, name: str, art: TokenizerArtifact, metadata: dict, options: dict[str, str] | None = None) -> str:
    """Write the artifact under tokenizers/<name>/<sha256>/ and point latest.json at it."""
    base = storage.join(root, "tokenizers", name, art.sha256)
    storage.write_bytes(storage.join(base, art.filename), art.data, options)
    meta = dict(metadata, sha256=art.sha256, vocab_size=art.vocab_size, eos_id=art.eos_id, bos_id=art.bos_id,
                kind=art.kind, file=art.filename, pattern=art.pattern, specials=[list(s) for s in art.specials])
    storage.write_bytes(storage.join(base, "metadata.json"), json.dumps(meta, indent=2, sort_keys=True).encode(), options)
    storage.write_bytes(storage.join(root, "tokenizers", name, "latest.json"),
                        json.dumps({"sha256": art.sha256, "kind": art.kind}).encode(), options)
    return base


def load_latest(root: str, name: str, eos: str, bos: str | None = None,
                options: dict[str, str] | None = None) -> TokenizerArtifact:
    pointer = storage.join(root, "tokenizers", name, "latest.json")
    if not storage.exists(pointer, options):
        raise FileNotFoundError(f"no tokenizer {name!r} under {storage.join(root, 'tokenizers')}: run the tokenizer stage first")
    latest = json.loads(storage.read_bytes(pointer, options))
    sha, kind = latest["sha256"], latest.get("kind", "hf")
    base = storage.join(root, "tokenizers", name, sha)
    data = storage.read_bytes(storage.join(base, FILES[kind]), options)
    meta = json.loads(storage.read_bytes(storage.join(base, "metadata.json"), options)) if kind == "tiktoken" else {}
    art = artifact(data, eos, bos, kind, meta.get("pattern"), [s for s, _ in meta.get("specials", [])])
    if art.sha256 != sha:
        raise ValueError(f"tokenizer {name}/{sha} does not match its hash: the file was changed after it was stored")
    return art
