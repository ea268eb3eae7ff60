"""The delivery rules of policy/webhooks.toml: backoff with jitter inside its bounds, Retry-After honoured,
retries for at least 24 hours, disabling only after the retries could end."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.policy import PolicyError
from notifier.rules import disables, gives_up, retry_delay, webhook_policy

POLICY = webhook_policy()
T = datetime(2026, 12, 5, tzinfo=UTC)


def test_the_policy_keeps_the_contracts_floor() -> None:
    assert POLICY.give_up_after >= timedelta(hours=24)
    assert POLICY.disable_after >= POLICY.give_up_after
    assert "lead.assigned" in POLICY.events and "sale.pending_confirmation" in POLICY.events


@given(attempts=st.integers(1, 60), seed=st.integers(0, 2**32), retry_after=st.none() | st.floats(0, 10**6))
def test_a_delay_is_jittered_within_its_step_and_never_past_the_maximum(
    attempts: int, seed: int, retry_after: float | None
) -> None:
    delay = retry_delay(attempts=attempts, retry_after=retry_after, policy=POLICY, rng=random.Random(seed))
    step = min(POLICY.max_seconds, POLICY.first_seconds * POLICY.factor ** (attempts - 1))
    assert 0 < delay <= POLICY.max_seconds
    if retry_after is None:
        assert step / 2 <= delay <= step
    else:
        assert delay >= min(retry_after, POLICY.max_seconds)


def test_retries_span_the_give_up_window_with_a_schedule_that_grows() -> None:
    """Worst case (every jitter at its minimum): still many attempts before the 72 hours end."""
    elapsed, attempts, delays = 0.0, 0, []
    while not gives_up(first_attempt_at=T, now=T + timedelta(seconds=elapsed), policy=POLICY):
        attempts += 1
        delay = retry_delay(attempts=attempts, policy=POLICY, rng=random.Random(0))
        delays.append(delay)
        elapsed += delay
    assert elapsed >= 24 * 3600 and attempts > 24
    assert delays[:5] == sorted(delays[:5])


def test_disabled_after_failing_for_the_policy_s_days_only() -> None:
    assert not disables(failing_since=None, now=T, policy=POLICY)
    assert not disables(failing_since=T, now=T + POLICY.disable_after - timedelta(seconds=1), policy=POLICY)
    assert disables(failing_since=T, now=T + POLICY.disable_after, policy=POLICY)


def test_a_policy_under_24_hours_of_retries_is_refused(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from leadnet_shared.policy import cached_policy

    text = (Path(__file__).parents[1] / "notifier/policy/webhooks.toml").read_text()
    directory = Path(str(tmp_path))
    (directory / "webhooks.toml").write_text(text.replace("give_up_after_hours = 72", "give_up_after_hours = 12"))
    monkeypatch.setenv("LEADNET_POLICY_DIR", str(directory))
    cached_policy.cache_clear()
    try:
        with pytest.raises(PolicyError, match="24 hours"):
            webhook_policy()
    finally:
        monkeypatch.delenv("LEADNET_POLICY_DIR")
        cached_policy.cache_clear()
    assert webhook_policy() == POLICY
