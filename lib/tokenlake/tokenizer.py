"""Tokenizer artifacts: train a byte-level BPE, or load one, and store it by content hash.

A tokenizer lives at ``tokenizers/<name>/<sha256>/`` (tokenizer.json + metadata.json) so every
shard version can name the exact tokenizer bytes it was made with. ``latest.json`` beside the
versions points at the most recent one for the tokenize stage.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from . import storage


@dataclass(frozen=True)
class TokenizerArtifact:
    json_text: str
    sha256: str
    vocab_size: int
    eos_id: int
    bos_id: int | None = None

    def build(self) -> Tokenizer:
        return Tokenizer.from_str(self.json_text)


def artifact(json_text: str, eos: str, bos: str | None = None) -> TokenizerArtifact:
    tok = Tokenizer.from_str(json_text)
    eos_id = tok.token_to_id(eos)
    if eos_id is None:
        raise ValueError(f"the tokenizer has no EOS token {eos!r}; set tokenizer.eos to one of its special tokens")
    bos_id = None
    if bos is not None:
        bos_id = tok.token_to_id(bos)
        if bos_id is None:
            raise ValueError(f"the tokenizer has no BOS token {bos!r}")
    sha = hashlib.sha256(json_text.encode("utf-8")).hexdigest()
    return TokenizerArtifact(json_text, sha, tok.get_vocab_size(with_added_tokens=True), eos_id, bos_id)


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


def store(root: str, name: str, art: TokenizerArtifact, metadata: dict, options: dict[str, str] | None = None) -> str:
    """Write the artifact under tokenizers/<name>/<sha256>/ and point latest.json at it."""
    base = storage.join(root, "tokenizers", name, art.sha256)
    storage.write_bytes(storage.join(base, "tokenizer.json"), art.json_text.encode("utf-8"), options)
    meta = dict(metadata, sha256=art.sha256, vocab_size=art.vocab_size, eos_id=art.eos_id, bos_id=art.bos_id)
    storage.write_bytes(storage.join(base, "metadata.json"), json.dumps(meta, indent=2, sort_keys=True).encode(), options)
    storage.write_bytes(storage.join(root, "tokenizers", name, "latest.json"),
                        json.dumps({"sha256": art.sha256}).encode(), options)
    return base


def load_latest(root: str, name: str, eos: str, bos: str | None = None,
                options: dict[str, str] | None = None) -> TokenizerArtifact:
    pointer = storage.join(root, "tokenizers", name, "latest.json")
    if not storage.exists(pointer, options):
        raise FileNotFoundError(f"no tokenizer {name!r} under {storage.join(root, 'tokenizers')}: run the tokenizer stage first")
    sha = json.loads(storage.read_bytes(pointer, options))["sha256"]
    text = storage.read_bytes(storage.join(root, "tokenizers", name, sha, "tokenizer.json"), options).decode("utf-8")
    art = artifact(text, eos, bos)
    if art.sha256 != sha:
        raise ValueError(f"tokenizer {name}/{sha} does not match its hash: the file was changed after it was stored")
    return art
