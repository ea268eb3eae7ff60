"""The console's words and files, without a server: both languages have every key the pages use, templates hold
no words of their own, and the vendored scripts are the pinned bytes."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

from hq_console.repository.measures import MEASURES
from hq_console.web import views
from hq_console.web.i18n import LANGUAGES, Translator, catalogue

WEB = Path(str(resources.files("hq_console.web")))
ROOT = Path(__file__).resolve().parents[3]
SECTIONS = "app|nav|role|period|filters|kpi|chart|col|table|regions|networks|customers|list|export|value|login|error"


def test_both_languages_have_the_same_keys() -> None:
    assert set(catalogue("zh-CN")) == set(catalogue("en"))


def test_every_key_the_code_and_templates_name_exists() -> None:
    named: set[str] = set()
    for path in [*WEB.glob("*.py"), *(WEB / "templates").glob("*.html")]:
        named |= set(re.findall(rf"""["']((?:{SECTIONS})\.[a-z_]+)["']""", path.read_text()))
    named = {key for key in named if not key.endswith(".html")}  # template names, not keys
    named |= {f"kpi.{m}" for m in MEASURES} | {f"kpi.{key}" for key, _, _ in views.OVERVIEW_TILES}
    named |= {f"source.{s}" for s in views.SOURCES} | {f"tier.{t}" for t in views.TIERS}
    named |= {f"nav.{page}" for page in ("overview", "funnel", "dealers", "regions", "networks", "customers")}
    named |= {f"period.{p}" for p in ("day", "week", "month", "quarter")} | {"role.hq_admin", "role.hq_analyst"}
    for language in LANGUAGES:
        missing = sorted(key for key in named if not Translator(language).has(key))
        assert missing == [], (language, missing)


def test_templates_hold_no_words_of_their_own() -> None:
    for path in (WEB / "templates").glob("*.html"):
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", path.read_text(), flags=re.S)
        text = re.sub(r"<[^>]*>", "", text)
        words = re.findall(r"[A-Za-z\u4e00-\u9fff]{2,}", text)
        assert words == [], (path.name, words)


def test_the_vendored_scripts_are_the_pinned_bytes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "vendor_console_assets.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
