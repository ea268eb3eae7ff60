"""Traditional -> simplified Chinese, so one customer typed in either script matches the same region and name.

The seed and many dealers' systems write traditional characters (歐曼, 濰坊市); the region data and the
other services use simplified ones. opencc-pyo3 (OpenCC's own lexicons, phrase-aware, in Rust) converts
~150,000 short texts a second, against ~4,000 for the pure-Python OpenCC on addresses, so conversion never
bounds intake.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

_SPACES = re.compile(r"\s+")


@cache
def _converter() -> Any:
    from opencc_pyo3 import OpenCC

    return OpenCC("t2s")


@cache
def _to_traditional_converter() -> Any:
    from opencc_pyo3 import OpenCC

    return OpenCC("s2t")


def to_traditional(text: str, /) -> str:
    """Traditional form of `text`: lets a lookup built from simplified names know other spellings."""
    return str(_to_traditional_converter().convert(text))


# Brands, models, cargo, insurers repeat endlessly across records; a bounded cache makes them free.
_CACHE_SIZE = 1 << 16


@lru_cache(maxsize=_CACHE_SIZE)
def to_simplified(text: str, /) -> str:
    """Simplified form of `text` (ASCII passes through untouched)."""
    if text.isascii():
        return text
    return str(_converter().convert(text))


@lru_cache(maxsize=_CACHE_SIZE)
def clean_text(text: str, /) -> str:
    """The form free text is stored and matched in: NFKC (full-width -> ASCII), simplified, single spaces."""
    if not text.isascii():
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
        text = to_simplified(text)
    text = text.strip()
    if "  " in text or "\t" in text or "\n" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    return text
