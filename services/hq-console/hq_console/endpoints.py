"""`/v1/insights/*`: the JSON behind the console's pages (filled in by the next commit)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/insights", tags=["insights"])
