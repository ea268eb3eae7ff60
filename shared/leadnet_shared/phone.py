"""The same customer is the same normalized phone number (contract.md): every spelling becomes one E.164.

Dealers type "138 0013 8000", "138-0013-8000", "+86 13800138000", "0086…", "(0536) 6012345", full-width
digits; intake stores the record's phone in that form and the router looks a sale's buyer up by it, so both must
normalize with this one function. libphonenumber knows the mainland numbering plan, so validity (which mobile
prefixes and area codes exist) is its judgement, not a regular expression of ours.
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

MAINLAND_REGION = "CN"
# contract.md: "a valid mainland China number (mobile or fixed line)"; 400/800 numbers name no customer.
_ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


class InvalidPhone(ValueError):
    """Not a mainland China mobile or fixed-line number; `code` is the field-problem code callers report."""

    code = "invalid_phone"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _mobile_pattern() -> re.Pattern[str]:
    metadata = PhoneMetadata.metadata_for_region(MAINLAND_REGION)
    if metadata is None or metadata.mobile is None or metadata.mobile.national_number_pattern is None:
        raise RuntimeError("phonenumbers has no mainland China mobile metadata")
    return re.compile(metadata.mobile.national_number_pattern)


# Most records carry a plain mobile number. Checking it against libphonenumber's own CN mobile pattern gives
# the same verdict as a full parse in a fraction of the time; anything else takes the full parse.
_CN_MOBILE = _mobile_pattern()
_SEPARATORS = str.maketrans("", "", " -.")


def _plain_mobile(raw: str) -> str | None:
    digits = raw.strip().translate(_SEPARATORS)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and digits.isascii() and digits.isdigit() and _CN_MOBILE.fullmatch(digits):
        return "+86" + digits
    return None


def normalize_phone(raw: str, /) -> str:
    """E.164 form (`+8613800138000`) of a mainland mobile or fixed-line number; raises InvalidPhone otherwise."""
    fast = _plain_mobile(raw)
    return fast if fast is not None else _full_parse(raw)


def _full_parse(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw, MAINLAND_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("not a phone number") from exc
    if number.country_code != 86 or number.extension:
        raise InvalidPhone("must be a mainland China number (+86) without an extension")
    if not phonenumbers.is_valid_number_for_region(number, MAINLAND_REGION):
        raise InvalidPhone("not a valid mainland China phone number")
    if phonenumbers.number_type(number) not in _ACCEPTED_TYPES:
        raise InvalidPhone("must be a mobile or fixed-line number (not 400/800 etc.)")
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def phone_partition_key(phone_e164: str, /) -> str:
    """The Kafka key of a number's submissions (intake's `lead.submitted`): one customer's records share a
    partition so the router sees them in order, with no personal data in the key. The router finds a number's
    parked submissions by it when it erases the customer."""
    return hashlib.sha256(phone_e164.encode()).hexdigest()[:24]
