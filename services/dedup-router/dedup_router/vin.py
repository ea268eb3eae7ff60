"""VIN check digit (GB 16735 / ISO 3779, the North American scheme China adopted): position 9 is computed from
the other sixteen, so a made-up VIN is wrong ten times out of eleven before the registry is even asked."""

from __future__ import annotations

import re

VIN_PATTERN = r"^[A-HJ-NPR-Z0-9]{17}$"
_VIN = re.compile(VIN_PATTERN)

# Letters to numbers as GB 16735 Annex lists them (I, O and Q never occur in a VIN).
TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    "A": 1,
    "B": 2,
    "C": 3,
    "D": 4,
    "E": 5,
    "F": 6,
    "G": 7,
    "H": 8,
    "J": 1,
    "K": 2,
    "L": 3,
    "M": 4,
    "N": 5,
    "P": 7,
    "R": 9,
    "S": 2,
    "T": 3,
    "U": 4,
    "V": 5,
    "W": 6,
    "X": 7,
    "Y": 8,
    "Z": 9,
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def check_digit(vin: str) -> str:
    """The ninth character a VIN must have: the weighted sum modulo 11, remainder 10 written as "X"."""
    remainder = sum(TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def is_valid_vin(vin: str) -> bool:
    """17 characters of the VIN alphabet with the right check digit."""
    return _VIN.fullmatch(vin) is not None and vin[8] == check_digit(vin)


def with_check_digit(vin: str) -> str:
    """The VIN with its ninth character set to the check digit (for makers' serial numbers and demo data)."""
    return vin[:8] + check_digit(vin) + vin[9:]
