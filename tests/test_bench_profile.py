"""`bench/intake_bench.py --profile` reports where intake and the router spend their CPU from py-spy's raw output;
the summary must count what the samples say (pure: a written sample file, no py-spy, no servers). Its per-stage
latency figures must count each lead in the stages it finished (pure: timestamps given, no databases)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench" / "intake_bench.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("intake_bench_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ROOT = "<module> (lead_intake/__main__.py:5);Runner.run (asyncio/runners.py:118)"
SAMPLES = "\n".join(
    [
        # 6 samples in validation, which recurses: counted once per sample, inclusive.
        f"{ROOT};_submit_lead (lead_intake/endpoints.py:120);validate_record (lead_intake/records.py:553);"
        "validate_record (lead_intake/records.py:560);BaseModel.model_validate (pydantic/main.py:792) 6",
        # 3 samples in the relay, self time in aiokafka.
        f"{ROOT};OutboxRelay.run (leadnet_shared/outbox.py:241);AIOKafkaClient.send (aiokafka/client.py:474) 3",
        # 1 sample idle in the event loop itself.
        f"{ROOT} 1",
        "not a sample line",
    ]
)


def test_the_summary_counts_self_time_by_package_and_project_functions_inclusively(tmp_path: Path) -> None:
    raw = tmp_path / "intake-500.txt"
    raw.write_text(SAMPLES)
    by_package, inclusive, total = _bench().Profiler.summarize(raw)
    assert total == 10
    assert by_package == [("pydantic", 6), ("aiokafka", 3), ("asyncio", 1)]
    # The entry point every sample passes through is left out; recursion counts a sample once.
    assert inclusive == [
        ("_submit_lead (endpoints.py)", 6),
        ("validate_record (records.py)", 6),
        ("OutboxRelay.run (outbox.py)", 3),
    ]


def test_stage_figures_count_each_lead_in_the_stages_it_finished() -> None:
    bench = _bench()
    t0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def at(ms: float) -> datetime:
        return t0 + timedelta(milliseconds=ms)

    done = {
        "received": at(0),
        "published": at(10),
        "routed": at(40),
        "verdict_published": at(60),
        "verdict_saved": at(70),
    }
    slower = {
        "received": at(0),
        "published": at(30),
        "routed": at(90),
        "verdict_published": at(100),
        "verdict_saved": at(130),
    }
    in_flight = {"received": at(0), "published": at(20)}  # not routed yet: only its first stage counts
    figures = {label: (n, p50) for label, n, p50, _ in bench.stage_figures({"a": done, "b": slower, "c": in_flight})}
    assert figures["intake: received -> lead.submitted published"] == (3, 20.0)
    assert figures["broker + router: published -> routing transaction"] == (2, 60.0)
    assert figures["all: received -> verdict saved"] == (2, 130.0)
