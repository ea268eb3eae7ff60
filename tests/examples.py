"""Example payloads of contract.md shared by the tests of more than one module."""

from __future__ import annotations

from typing import Any

from leadnet.demo import DEMO_RECORD

# The example record of contract.md "lead-intake", verbatim: the one `leadnet up --demo` prints, kept in one place.
# Tests copy it before changing it.
CONTRACT_RECORD: dict[str, Any] = DEMO_RECORD
