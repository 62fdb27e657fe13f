"""Splitting long texts before encoding must not change the ids."""
import random

from tokenlake.stages.tokenize import encode_ids, split_for_encoding
from tokenlake.tokenizer import artifact, train_byte_level_bpe

CORPUS = ["The quick brown fox jumps over the lazy dog.  Twice, even!\n\tTabs and   spaces.",
          "Der schnelle braune Fuchs springt über den faulen Hund. 敏捷的棕色狐狸跳过了懒狗。",
          "Emoji 🙂🙃 and combining e\u0301 marks, control\x07chars."] * 50


def tokenizer():
    return artifact(train_byte_level_bpe(iter(CORPUS), 600, ["<|endoftext|>"], 1), "<|endoftext|>")


def test_split_preserves_text_and_ids():
    art = tokenizer()
    tok = art.build()
    rng = random.Random(0)
    words = ["alpha", "beta,", "γάμμα", "δέλτα.", "\n", "  ", "\t", "🙂", "e\u0301", "1234", "中文"]
    text = "".join(rng.choice(words) + rng.choice([" ", "", "  ", "\n"]) for _ in range(20_000))
    pieces = split_for_encoding(text, 1000)
    assert len(pieces) > 10
    assert "".join(pieces) == text
    assert encode_ids(tok, text, 1000) == tok.encode(text, add_special_tokens=False).ids


def test_training_is_deterministic():
    assert tokenizer().sha256 == tokenizer().sha256
