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
    assert encode_ids(art.encoder(), text, 1000) == tok.encode(text, add_special_tokens=False).ids


def test_training_is_deterministic():
    assert tokenizer().sha256 == tokenizer().sha256


# --- every tokenizer kind through the stage: ids equal a direct encode of the same text plus EOS ---

import base64  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tokenlake import ids as _ids  # noqa: E402
from tokenlake.config import from_dict  # noqa: E402
from tokenlake.demo import CORPUS as DEMO, demo_config  # noqa: E402
from tokenlake.pipeline import run_pipeline  # noqa: E402
from tokenlake.schemas_registry import spec  # noqa: E402
from tokenlake.tokenizer import DEFAULT_TIKTOKEN_PATTERN, tiktoken_encoding, train_sentencepiece_bpe  # noqa: E402

EOS = "<|endoftext|>"


def hard_texts() -> list[str]:
    """CJK, emoji, combining marks, control characters, and a multi-megabyte document of real text."""
    licenses = [p.read_text(encoding="utf-8") for p in sorted((DEMO / "docs").glob("*.txt"))]
    big = "\n\n".join(licenses * 8)
    assert len(big.encode()) > 2_000_000
    return CORPUS[:3] + ["人人生而自由，在尊严和权利上一律平等。すべての人間は、生まれながらにして自由である。",
                         "👩🏽‍💻 zwj 🇩🇪 flags \u200b zero-width, e\u0301\u0302 stacked, \x00\x01\x1b[0m controls",
                         big]


def write_gold(lake, texts):
    rows = []
    for i, t in enumerate(texts):
        r = {c: None for c in spec("gold/documents").names}
        r.update(doc_id=_ids.doc_id("t", f"d{i}", 0), source="t", text=t, n_chars=len(t), n_words=1, n_lines=1,
                 lang_score=1.0, quality_score=1.0, pii_counts={}, signals={}, text_hash=str(i),
                 cluster_id=_ids.doc_id("t", f"d{i}", 0), cluster_size=1)
        rows.append(r)
    lake.write(lake.spark.createDataFrame(rows, spec("gold/documents").spark_schema), "gold/documents", mode="overwrite")
    return {r["doc_id"]: r["text"] for r in rows}


def stage_ids(engine, lake, path: str) -> dict[str, list[int]]:
    data = demo_config(pathlib.Path(lake.root).parent)
    data["lake"]["root"] = lake.root
    data["tokenizer"].update(mode="load", path=path, eos=EOS, special_tokens=[EOS])
    run_pipeline(from_dict(data), stages=["tokenizer", "tokenize"], engine=engine, quiet=True, force=True)
    return {r["doc_id"]: list(r["input_ids"]) for r in lake.read("gold/tokens").collect()}


@pytest.fixture()
def gold(lake):
    return write_gold(lake, hard_texts())


def test_hf_json_through_the_stage(engine, lake, gold, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(train_byte_level_bpe(iter(CORPUS + hard_texts()[3:5]), 600, [EOS], 1))
    tok = artifact(path.read_text(), EOS).build()
    got = stage_ids(engine, lake, str(path))
    eos = tok.token_to_id(EOS)
    assert got == {d: tok.encode(t, add_special_tokens=False).ids + [eos] for d, t in gold.items()}


def test_sentencepiece_trained_and_loaded_through_the_stage(engine, lake, gold, tmp_path):
    import sentencepiece as spm

    texts = CORPUS + hard_texts()[3:5] + [p.read_text() for p in sorted((DEMO / "docs").glob("*.txt"))]
    model = train_sentencepiece_bpe(iter(texts), 800, [EOS])
    assert model == train_sentencepiece_bpe(iter(texts), 800, [EOS])  # deterministic bytes
    sp = spm.SentencePieceProcessor(model_proto=model)
    assert sp.piece_to_id("<0xF0>") > 0  # byte fallback pieces exist
    path = tmp_path / "sp.model"
    path.write_bytes(model)
    got = stage_ids(engine, lake, str(path))
    eos = sp.piece_to_id(EOS)
    assert got == {d: sp.encode(t) + [eos] for d, t in gold.items()}


def test_tiktoken_file_from_s3_through_the_stage(engine, lake, gold, s3_endpoint):
    import boto3
    from tiktoken._educational import bpe_train

    ranks = bpe_train(" ".join(CORPUS[:60]), 300, DEFAULT_TIKTOKEN_PATTERN, visualise=None)
    data = b"".join(base64.b64encode(tok) + b" %d\n" % rank for tok, rank in sorted(ranks.items(), key=lambda x: x[1]))
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="tok")
    s3.put_object(Bucket="tok", Key="enc/t.tiktoken", Body=data)
    enc = tiktoken_encoding(data, None, {EOS: max(ranks.values()) + 1})
    got = stage_ids(engine, lake, "s3://tok/enc/t.tiktoken")
    assert got == {d: enc.encode_ordinary(t) + [max(ranks.values()) + 1] for d, t in gold.items()}
    assert lake.read("gold/tokens").filter(F.col("n_tokens") > 100_000).count() == 1  # the multi-MB document


# --- training in the stage: a streamed, size-capped sample, optionally stratified by language ---

def lang_gold(lake) -> dict[str, str]:
    """Documents in three languages (en, de, fr), 40 each, with a lang column."""
    texts = {"en": "The committee reviewed the annual report and approved the budget for next year. ",
             "de": "Der Ausschuss prüfte den Jahresbericht und genehmigte den Haushalt für das nächste Jahr. ",
             "fr": "Le comité a examiné le rapport annuel et approuvé le budget de l'année prochaine. "}
    rows = []
    for lang, text in texts.items():
        for i in range(40):
            r = {c: None for c in spec("gold/documents").names}
            d = _ids.doc_id(lang, f"d{i}", 0)
            r.update(doc_id=d, source=lang, text=f"{i} " + text * (5 + i % 7), n_chars=1, n_words=1, n_lines=1, lang=lang,
                     lang_score=1.0, quality_score=1.0, pii_counts={}, signals={}, text_hash=d, cluster_id=d,
                     cluster_size=1)
            rows.append(r)
    lake.write(lake.spark.createDataFrame(rows, spec("gold/documents").spark_schema), "gold/documents", mode="overwrite")
    return {r["doc_id"]: r["lang"] for r in rows}


def train_in_stage(engine, lake, **tok) -> dict:
    data = demo_config(pathlib.Path(lake.root).parent)
    data["lake"]["root"] = lake.root
    data["tokenizer"].update(mode="train", vocab_size=300, min_frequency=1, **tok)
    run_pipeline(from_dict(data), stages=["tokenizer"], engine=engine, quiet=True, force=True)
    base = pathlib.Path(lake.root) / "tokenizers" / data["tokenizer"]["name"]
    sha = json.loads((base / "latest.json").read_text())["sha256"]
    return json.loads((base / sha / "metadata.json").read_text())


@pytest.mark.parametrize("kind", ["byte_level_bpe", "sentencepiece_bpe"])
def test_language_shares_stratify_the_training_sample(engine, lake, kind):
    lang_gold(lake)
    cap = 12_000
    meta = train_in_stage(engine, lake, kind=kind, sample_max_chars=cap, language_shares={"en": 0.5, "de": 0.25})
    mix = meta["language_mix"]
    longest = max(len(t) for t in lake.read("gold/documents").toPandas()["text"])
    # each stratum is filled in hash order until its budget is reached: budget <= chars < budget + one document
    for lang, budget in {"en": cap * 0.5, "de": cap * 0.25, "fr": cap * 0.25}.items():
        assert budget <= mix[lang]["chars"] < budget + longest, (lang, mix)
    assert meta["sample_chars"] == sum(m["chars"] for m in mix.values())
    assert meta["trained"] == kind and meta["training_seconds"] > 0
    tok_dir = pathlib.Path(lake.root) / "tokenizers" / "demo-bpe" / meta["sha256"]
    assert (tok_dir / ("tokenizer.model" if kind == "sentencepiece_bpe" else "tokenizer.json")).exists()
    # without stratification the hash order alone decides the mix; the same config gives the same bytes
    plain = train_in_stage(engine, lake, kind=kind, sample_max_chars=cap)
    assert plain["language_mix"] != mix
    assert train_in_stage(engine, lake, kind=kind, sample_max_chars=cap)["sha256"] == plain["sha256"]


def test_language_shares_without_a_lang_column_is_a_config_error(spark):
    from tokenlake.config import ConfigError
    from tokenlake.stages.tokenizer import strata

    df = spark.createDataFrame([("a", "some text")], "doc_id string, text string")
    assert len(strata(df, 100, {})) == 1
    with pytest.raises(ConfigError, match="language_shares needs a lang column"):
        strata(df, 100, {"en": 0.5})
    with pytest.raises(Exception, match="sum to at most 1"):
        from_dict({**demo_config(pathlib.Path("/tmp")), "tokenizer": {"language_shares": {"en": 0.7, "de": 0.4}}})


def test_hf_tokenizers_that_look_across_spaces_are_not_split():
    import json as _json

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    assert tokenizer().splits_long_texts
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    assert not artifact(_add_eos(tok.to_str()), EOS).splits_long_texts
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    assert not artifact(_add_eos(tok.to_str()), EOS).splits_long_texts
    assert _json.loads(tok.to_str())["pre_tokenizer"]["type"] == "ByteLevel"


def _add_eos(json_text: str) -> str:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json_text)
    tok.add_special_tokens([EOS])
    return tok.to_str()
