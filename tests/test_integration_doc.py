"""docs/integration.md keeps its promises: its Python and Java signature checks (the very snippets of the page)
verify the Standard Webhooks test vector and the notifier's own signatures, the Python client pages a list with
`updated_since` and raises problems on a running notifier, the example receiver verifies and deduplicates, and
every problem code the OpenAPI documents declare is explained on the page."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadnet_client import LeadnetClient, Problem, WebhookVerificationError, verify_webhook
from leadnet_shared.testing import Infra, fresh_database, new_topic_prefix, running, service_settings
from notifier import signing
from notifier.app import create_app as notifier_app
from notifier.settings import NotifierSettings
from tests.lists_check import openapi_documents

ROOT = Path(__file__).parents[1]
DOC = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")
# The Standard Webhooks test vector (standardwebhooks.com, the specification's reference libraries).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID, TIMESTAMP, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
HEADERS = {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP), "webhook-signature": SIGNATURE}


def snippet(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)
    return next(block for block in blocks if containing in block)


def test_the_notifier_and_the_client_agree_with_the_standard_webhooks_vector() -> None:
    assert signing.sign(SECRET, msg_id=MSG_ID, timestamp=TIMESTAMP, body=BODY) == SIGNATURE
    assert verify_webhook(SECRET, HEADERS, BODY, now=TIMESTAMP) == {"test": 2432232314}
    rotated = HEADERS | {"webhook-signature": "v1,bm90IHRoaXMgb25l " + SIGNATURE}  # two secrets during a rotation
    assert verify_webhook(SECRET, rotated, BODY, now=TIMESTAMP + 299)
    for headers, body, now in [
        (HEADERS, b'{"test": 2432232315}', TIMESTAMP),  # body changed
        (HEADERS | {"webhook-id": "msg_other"}, BODY, TIMESTAMP),  # id changed
        (HEADERS, BODY, TIMESTAMP + 301),  # replayed later than the tolerance
        ({k: v for k, v in HEADERS.items() if k != "webhook-signature"}, BODY, TIMESTAMP),
    ]:
        with pytest.raises(WebhookVerificationError):
            verify_webhook(SECRET, headers, body, now=now)


def test_the_pages_python_snippet_verifies_the_vector() -> None:
    namespace: dict[str, Any] = {}
    exec(snippet("python", "def verify("), namespace)
    verify = namespace["verify"]
    assert verify(SECRET, HEADERS, BODY, tolerance=10**10)
    assert not verify(SECRET, HEADERS, BODY + b" ", tolerance=10**10)
    assert not verify(SECRET, HEADERS, BODY)  # 2021 is more than five minutes ago


@pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK on this machine")
def test_the_pages_java_snippet_compiles_and_verifies_the_vector(tmp_path: Path) -> None:
    (tmp_path / "WebhookVerifier.java").write_text(snippet("java", "class WebhookVerifier"), encoding="utf-8")
    subprocess.run(["javac", "-d", str(tmp_path), str(tmp_path / "WebhookVerifier.java")], check=True, timeout=120)

    def java(body: bytes, now: int) -> subprocess.CompletedProcess[str]:
        args = [SECRET, MSG_ID, str(TIMESTAMP), "v1,AAAA " + SIGNATURE, body.decode(), str(now)]
        command = ["java", "-cp", str(tmp_path), "WebhookVerifier", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert java(BODY, TIMESTAMP + 10).stdout.strip() == "verified"
    assert java(b'{"test": 1}', TIMESTAMP).returncode == 1
    assert java(BODY, TIMESTAMP + 3600).returncode == 1


def test_every_problem_code_of_the_openapi_documents_is_explained() -> None:
    codes = set()
    for document in openapi_documents().values():
        for item in document["paths"].values():
            for operation in item.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        codes |= {part.split(" (")[0].strip() for part in response["description"].split(" / ")}
    missing = sorted(code for code in codes if f"`{code}`" not in DOC)
    assert not missing, f"docs/integration.md does not explain {missing}"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    path = ROOT / "clients" / "python" / "examples" / "receive_webhook.py"
    spec = importlib.util.spec_from_file_location("receive_webhook_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    make_server = example.make_server
    got: list[tuple[str, dict[str, Any]]] = []
    server = make_server(SECRET, lambda webhook_id, message: got.append((webhook_id, message)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_example_receiver_verifies_answers_at_once_and_acts_once(
    receiver: tuple[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    url, got = receiver
    body = b'{"type": "task.due", "timestamp": "2026-12-05T02:00:00Z", "data": {"task_id": "T1"}}'
    headers = signing.headers([SECRET], msg_id="msg_1", timestamp=int(time.time()), body=body)
    with httpx.Client() as client:
        assert client.post(url, content=body, headers=headers).status_code == 204
        assert client.post(url, content=body, headers=headers).status_code == 204  # a retry: acknowledged, not redone
        assert client.post(url, content=body + b" ", headers=headers).status_code == 400
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert got == [("msg_1", {"type": "task.due", "timestamp": "2026-12-05T02:00:00Z", "data": {"task_id": "T1"}})]


@pytest.mark.postgres
@pytest.mark.kafka
async def test_the_client_subscribes_pages_with_updated_since_and_raises_problems(infra: Infra) -> None:
    database = await fresh_database(infra.database_server_url, "notifier")
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    settings = service_settings(
        NotifierSettings, infra, database_url=database, topic_prefix=prefix, run_delivery=False,
        run_people_messages=False,
    )  # fmt: skip
    app = notifier_app(settings, consume=False)
    started = datetime.now(UTC) - timedelta(minutes=1)
    async with running(app):
        api = LeadnetClient(infra.token("hq_admin"), base_url="http://notifier", transport=httpx.ASGITransport(app=app))
        async with api:
            made = [await api.subscribe(f"http://127.0.0.1:9/hook{i}", ["task.due"]) for i in range(3)]
            assert all(m["secret"].startswith("whsec_") for m in made)
            listed = [w["webhook_id"] async for w in api.items("/v1/webhooks", updated_since=started, limit=1)]
            assert sorted(listed) == sorted(m["webhook_id"] for m in made)
            later = datetime.now(UTC) + timedelta(minutes=1)
            assert [w async for w in api.items("/v1/webhooks", updated_since=later)] == []
            with pytest.raises(Problem) as refused:
                await api.subscribe("http://127.0.0.1:9/hook", ["no.such_event"])
            assert refused.value.status == 422 and refused.value.code == "validation_failed"
            assert refused.value.errors and not refused.value.retryable
