"""Policy files: loaded from the package or LEADNET_POLICY_DIR, and refused at load when a rule's table breaks the
domain's bounds (issue 16 §2: the guarantee defaults are checked against 1000-3000 CNY)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from leadnet_shared.policy import GUARANTEE_RANGE_FEN, PolicyError, cached_policy, load_policy

DEFAULT = resources.files("leadnet_shared").joinpath("policy", "rewards.toml").read_text(encoding="utf-8")


@pytest.fixture
def policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LEADNET_POLICY_DIR", str(tmp_path))
    cached_policy.cache_clear()
    yield tmp_path
    cached_policy.cache_clear()


def test_the_shipped_rewards_policy_is_inside_the_domain_range() -> None:
    policy = load_policy("leadnet_shared", "rewards")
    table = policy["profit_guarantee"]
    assert GUARANTEE_RANGE_FEN == (100_000, 300_000)  # domain.md §3: 1000-3000 CNY per vehicle
    assert table["min_fen"] == 100_000 and table["max_fen"] == 300_000


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("tractor = 200000", "tractor = 350000", "by_product_line.tractor = 350000"),
        ("tractor = 200000", "tractor = 99999", "by_product_line.tractor = 99999"),
        ("default_fen = 100000", "default_fen = 50000", "default_fen = 50000"),
        ("max_fen = 300000", "max_fen = 400000", "within 100000-300000"),
        ("min_fen = 100000", "min_fen = 0", "within 100000-300000"),
        ("min_fen = 100000", "min_fen = 250000", "default_fen = 100000 fen is outside"),
        ("default_fen = 100000", 'default_fen = "100000"', "integer amount in fen"),
        ("default_fen = 100000", "default_fen = 1500.5", "integer amount in fen"),
        ("info_fee_fen = 200", "info_fee_fen = -200", "info_fee_fen must be positive"),
    ],
)
def test_an_out_of_range_guarantee_policy_fails_at_load(policy_dir: Path, old: str, new: str, message: str) -> None:
    assert old in DEFAULT
    (policy_dir / "rewards.toml").write_text(DEFAULT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError, match=message.replace(".", r"\.")):
        load_policy("leadnet_shared", "rewards")


def test_a_narrower_range_is_allowed(policy_dir: Path) -> None:
    text = DEFAULT.replace("max_fen = 300000", "max_fen = 200000")
    (policy_dir / "rewards.toml").write_text(text, encoding="utf-8")
    assert load_policy("leadnet_shared", "rewards")["profit_guarantee"]["max_fen"] == 200_000


def test_the_services_that_pay_refuse_to_start_on_a_bad_policy(policy_dir: Path) -> None:
    dedup_app = pytest.importorskip("dedup_router.app")
    ledger_app = pytest.importorskip("rewards_ledger.app")
    from dedup_router.settings import RouterSettings
    from rewards_ledger.settings import LedgerSettings

    (policy_dir / "rewards.toml").write_text(DEFAULT.replace("dump = 150000", "dump = 500000"), encoding="utf-8")
    with pytest.raises(PolicyError, match="dump = 500000"):
        ledger_app.create_app(LedgerSettings(env="test", jwks_file="unused"))
    with pytest.raises(PolicyError, match="dump = 500000"):
        dedup_app.create_app(RouterSettings(env="test", jwks_file="unused"))
