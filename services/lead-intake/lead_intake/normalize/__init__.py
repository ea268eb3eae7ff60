"""Normalizers that turn what a dealer typed into the one form the network stores and matches on."""

from __future__ import annotations


class NormalizationError(ValueError):
    """A value cannot be normalized; `code` is the stable field-problem code the caller reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
