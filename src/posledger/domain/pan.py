"""Detection of card numbers (PAN) and CVV fields anywhere in a parsed JSON document.

CONTRACT section 8: a run of 13 to 19 digits passing the Luhn check, or a CVV field, anywhere
in an event is refused. Digit runs may be written with single spaces or dashes between
groups (``4242 4242 4242 4242``), as card numbers often are. A ``sku`` or ``gtin`` value that
is a GTIN (8, 12, 13 or 14 digits with a valid GS1 check digit) is a barcode, not a card number.
"""

from __future__ import annotations

import re
from typing import Any

from posledger.domain.errors import PanDetected

__all__ = ["luhn_valid", "gtin_valid", "find_card_data", "refuse_card_data"]

_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_CVV_KEY = re.compile(
    r"^(cvv2?|cvc2?|cav2|cid|csc|cvn|security_?code|card_?security_?code|card_?verification\w*)$",
    re.IGNORECASE,
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


_GTIN_KEYS = frozenset({"sku", "gtin"})


def gtin_valid(text: str) -> bool:
    """A GTIN-8, -12, -13 or -14 with a valid GS1 check digit (weights 3, 1, 3... from the right)."""
    if len(text) not in (8, 12, 13, 14) or not text.isascii() or not text.isdigit():
        return False
    total = sum(int(char) * (3 if index % 2 == 0 else 1) for index, char in enumerate(reversed(text[:-1])))
    return (10 - total % 10) % 10 == int(text[-1])


def _text_has_pan(text: str) -> bool:
    for match in _DIGIT_RUN.finditer(text):
        digits = match.group().replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def find_card_data(document: Any, path: str = "") -> str | None:
    """Return the path of the first card number or CVV field in ``document``, else None."""
    if isinstance(document, dict):
        for key, value in document.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _CVV_KEY.match(key):
                return child
            if isinstance(key, str) and _text_has_pan(key):
                return path or "(key)"
            if key in _GTIN_KEYS and isinstance(value, str) and gtin_valid(value):
                continue  # a barcode, not a card number (CONTRACT section 8)
            found = find_card_data(value, child)
            if found is not None:
                return found
        return None
    if isinstance(document, list):
        for index, value in enumerate(document):
            found = find_card_data(value, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(document, str):
        return path if _text_has_pan(document) else None
    if isinstance(document, int) and not isinstance(document, bool):
        digits = str(abs(document))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return path
    return None


# A superset test on the document's JSON text: any run of 13+ characters of digits, spaces and
# dashes that starts with a digit, or a key that looks like a CVV (searched in the lower-cased
# text: a case-insensitive regex is four times slower). Only when it matches is the exact walk
# needed.
_LONG_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{12,}")  # a character class: no backtracking
_CVV_TEXT = re.compile(r'"(?:cvv|cvc|cav2|cid|csc|cvn|security_?code|card_?security|card_?verification)')


# Digits, spaces and dashes all become "0": a run of 13 or more of them (which every match of
# _LONG_DIGIT_RUN holding 13 digits contains) shows as 13 zeros. A byte translation and a
# substring search cost a fifth of the regex's scan, which then runs only when they find one.
_RUN_BYTES = bytes.maketrans(b"0123456789 -", b"0" * 12)
_THIRTEEN = b"0" * 13


def may_hold_card_data(json_text: str) -> bool:
    """Cheap pre-check over the document's JSON text; False means certainly no card data."""
    if _THIRTEEN in json_text.encode("utf-8", "surrogatepass").translate(_RUN_BYTES):
        for match in _LONG_DIGIT_RUN.finditer(json_text):
            if sum(char.isdigit() for char in match.group()) >= 13:
                return True
    return _CVV_TEXT.search(json_text.lower()) is not None


def refuse_card_data(document: Any, json_text: str | None = None) -> None:
    """Raise ``PanDetected`` naming the field (never the number) if card data is present.

    ``json_text``, the document as JSON, lets the common case (no long digit run at all) skip
    the walk over every value."""
    if json_text is not None and not may_hold_card_data(json_text):
        return
    field = find_card_data(document)
    if field is not None:
        raise PanDetected(field, "a full card number or a CVV is not accepted; send only "
                          "scheme, first6, last4, auth_code and terminal_id")
