"""The same customer is the same normalized phone number (contract.md): a sale names its buyer by phone.

Intake stores every record's phone in E.164; a seller types the buyer's number any usual way, so the router
normalizes it the same way (libphonenumber's mainland numbering plan) before looking the customer up.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

MAINLAND_REGION = "CN"
_ACCEPTED_TYPES = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


class InvalidPhone(ValueError):
    """Not a mainland China mobile or fixed-line number."""


def normalize_phone(raw: str, /) -> str:
    """E.164 (`+8613800138000`) of a mainland mobile or fixed-line number; raises InvalidPhone otherwise."""
    try:
        number = phonenumbers.parse(raw, MAINLAND_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("not a phone number") from exc
    if number.country_code != 86 or number.extension:
        raise InvalidPhone("must be a mainland China number (+86) without an extension")
    if not phonenumbers.is_valid_number_for_region(number, MAINLAND_REGION):
        raise InvalidPhone("not a valid mainland China phone number")
    if phonenumbers.number_type(number) not in _ACCEPTED_TYPES:
        raise InvalidPhone("must be a mobile or fixed-line number")
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))
