"""The calls a DMS makes (docs/integration.md), on httpx. One client per token; `base_urls` maps each path prefix
to its service (`leadnet up` writes them to `.leadnet/endpoints.json`), or one `base_url` behind an ingress that
routes by prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import httpx

# Which service answers which path prefix (contract.md: one logical API, one prefix per service).
PREFIXES = (
    ("/v1/leads", "intake"),
    ("/v1/networks", "intake"),
    ("/v1/collection-plans", "intake"),
    ("/v1/dealers", "router"),
    ("/v1/customers", "router"),
    ("/v1/sales", "router"),
    ("/v1/vehicles", "router"),
    ("/v1/tasks", "scheduler"),
    ("/v1/plans", "scheduler"),
    ("/v1/ledger", "ledger"),
    ("/v1/insights", "console"),
    ("/v1/webhooks", "notifier"),
)


class Problem(Exception):
    """An RFC 9457 problem the API answered: `code` is stable (docs/integration.md lists them), `errors` names
    every field problem at once as JSON pointers into what was sent."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        self.status = status
        self.code = str(body.get("code", "unknown"))
        self.detail = body.get("detail")
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])
        self.retry_after = headers.get("retry-after")
        super().__init__(f"{status} {self.code}: {self.detail or body.get('title', '')}")

    @property
    def retryable(self) -> bool:
        """429 and 503 are worth repeating (with the same Idempotency-Key); the rest need a change first."""
        return self.status in (429, 503)


class LeadnetClient:
    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        base_urls: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if (base_url is None) == (base_urls is None):
            raise ValueError("give either base_url (an ingress) or base_urls (service name -> URL)")
        self._base_url = base_url
        self._base_urls = dict(base_urls or {})
        self._http = httpx.AsyncClient(
            headers={"authorization": f"Bearer {token}"}, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> LeadnetClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def url(self, path: str) -> str:
        if self._base_url is not None:
            return self._base_url.rstrip("/") + path
        for prefix, service in PREFIXES:
            if path.startswith(prefix):
                return self._base_urls[service].rstrip("/") + path
        raise ValueError(f"no service for {path}")

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, self.url(path), **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"code": "unknown", "detail": response.text[:200]}
            raise Problem(response.status_code, body, response.headers)
        return response.json() if response.content else None

    async def create(self, path: str, body: Any, *, idempotency_key: str | None = None) -> Any:
        """A creating POST with an Idempotency-Key (a new one unless given): repeat it with the same key after a
        timeout or a 503, and the first answer comes back instead of a second record."""
        key = idempotency_key or str(uuid.uuid4())
        return await self.request("POST", path, json=body, headers={"idempotency-key": key})

    async def submit_lead(self, record: Mapping[str, Any], *, idempotency_key: str | None = None) -> Any:
        return await self.create("/v1/leads", record, idempotency_key=idempotency_key)

    async def complete_task(self, task_id: str, outcome: Mapping[str, Any]) -> Any:
        return await self.request("POST", f"/v1/tasks/{task_id}/complete", json=outcome)

    async def confirm_sale(self, sale_id: str) -> Any:
        return await self.request("POST", f"/v1/sales/{sale_id}/confirm")

    async def items(
        self,
        path: str,
        *,
        updated_since: datetime | None = None,
        params: Mapping[str, Any] | None = None,
        limit: int = 500,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list, page after page (`next_cursor`); with `updated_since`, only what was created or
        changed at or after that instant: the catch-up after missed webhooks."""
        query: dict[str, Any] = {**(params or {}), "limit": limit}
        if updated_since is not None:
            if updated_since.tzinfo is None:
                raise ValueError("updated_since needs a time zone (RFC 3339 with offset)")
            query["updated_since"] = updated_since.isoformat()
        while True:
            page = await self.request("GET", path, params=query)
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    async def subscribe(self, url: str, events: list[str], *, description: str | None = None) -> Any:
        """A webhook subscription; the answer's `secret` is shown this once: store it where the receiver reads it."""
        body: dict[str, Any] = {"url": url, "events": events}
        if description is not None:
            body["description"] = description
        return await self.create("/v1/webhooks", body)

    async def replay(self, webhook_id: str, since: datetime, until: datetime, *, failed_only: bool = False) -> Any:
        """Send again every delivery of [since, until) (same webhook-id each: the receiver's dedup holds)."""
        body = {"since": since.isoformat(), "until": until.isoformat(), "failed_only": failed_only}
        return await self.request("POST", f"/v1/webhooks/{webhook_id}/replay", json=body)

    async def test_webhook(self, webhook_id: str) -> Any:
        return await self.request("POST", f"/v1/webhooks/{webhook_id}/test")
