"""The console's words in Simplified Chinese (the default) and English, from one catalogue file per language.

Templates never hold a word of their own: they call `_("key")`, and `locales/<lang>.toml` gives the text. A key
missing from a catalogue is a test failure (`test_console_i18n.py`), not a blank on a page.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGE_COOKIE = "leadnet_console_lang"


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """Flat `section.key` → text for one language."""
    source = resources.files("hq_console.web") / "locales" / f"{language}.toml"
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(name + ".", value)
            else:
                flat[name] = str(value)

    walk("", data)
    return flat


def pick_language(query: str | None, cookie: str | None) -> str:
    """`?lang=` first, then the cookie a switch left, then Simplified Chinese: HQ's language, whatever the
    browser's own setting (an English browser on an HQ PC still gets the Chinese console until switched)."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    return DEFAULT_LANGUAGE


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._texts = catalogue(self.language)

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts.get(key)
        if text is None:
            text = catalogue(DEFAULT_LANGUAGE).get(key, key)
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._texts
