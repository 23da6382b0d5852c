"""Card data (CONTRACT section 8): full card numbers (PAN) and card security data, anywhere in
a parsed JSON document or a piece of text, found so that they are refused before anything is
stored, logged or echoed.

What counts is what a person could read as a card number:

- text is NFKC-normalised and every Unicode decimal digit counts as a digit (fullwidth ``４``,
  Arabic-Indic ``٤``);
- digits separated by *single* spaces, tabs, no-break spaces, dots, dashes, slashes or
  underscores form one run (``4111.1111.1111.1111``, ``4111/1111/1111/1111``);
- a JSON number counts in any form (``4111111111111111``, ``4111111111111111.0``,
  ``4.111111111111111e15``): the digits of its integer value form the run;
- a run of 13 to 19 digits is a card number when it passes the Luhn check and starts as a card
  scheme's numbers do (3, 4, 5 or 6, or 2221 to 2720). A run of another length or start is not,
  so long references stay usable (and a card number buried in a longer run is not found);
- a ``sku`` or ``gtin`` value that is a GTIN (8, 12, 13 or 14 digits with a valid GS1 check
  digit) is a barcode, not a card number;
- card security data is found by key name: a key whose lower-cased letters and digits contain
  ``cvv``, ``cvc``, ``csc``, ``securitycode``, ``verificationvalue``, ``pinblock``, ``track1``,
  ``track2``, ``trackdata``, ``magstripe``, ``expiry`` or ``expiration``, or are ``cid``,
  ``pin`` or ``exp``.

The hot path (a sale's JSON, ASCII, no long digit run, no ``ext``) is answered by
``may_hold_card_data`` on the document's JSON text with a byte translation and a few substring
searches; only when it says "maybe" is the document walked.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from posledger.domain.errors import PanDetected

__all__ = ["luhn_valid", "gtin_valid", "card_number_in", "card_key", "find_card_data", "may_hold_card_data",
           "refuse_card_data", "refuse_card_text", "has_long_digit_run",
           "redact_long_digit_runs"]

# One run: digits, each pair separated by at most one separator. After NFKC a no-break space is
# a space; ``\d`` matches every Unicode decimal digit.
_DIGIT_RUN = re.compile(r"\d(?:[ \t\u00a0./_-]?\d)*")
_SEPARATORS = str.maketrans("", "", " \t\u00a0./_-")

_KEY_PARTS = ("cvv", "cvc", "csc", "securitycode", "verificationvalue", "pinblock", "track1", "track2",
              "trackdata", "magstripe", "expiry", "expiration")
_KEY_NAMES = frozenset({"cid", "pin", "exp"})
_GTIN_KEYS = frozenset({"sku", "gtin"})


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


def gtin_valid(text: str) -> bool:
    """A GTIN-8, -12, -13 or -14 with a valid GS1 check digit (weights 3, 1, 3... from the right)."""
    if len(text) not in (8, 12, 13, 14) or not text.isascii() or not text.isdigit():
        return False
    total = sum(int(char) * (3 if index % 2 == 0 else 1) for index, char in enumerate(reversed(text[:-1])))
    return (10 - total % 10) % 10 == int(text[-1])


def _is_card_number(digits: str) -> bool:
    """``digits``: ASCII digits only."""
    if not 13 <= len(digits) <= 19:
        return False
    first = digits[0]
    if first not in "3456" and not (first == "2" and 2221 <= int(digits[:4]) <= 2720):
        return False
    return luhn_valid(digits)


def _ascii_digits(run: str) -> str:
    run = run.translate(_SEPARATORS)
    return run if run.isascii() else "".join(str(unicodedata.decimal(char)) for char in run)


# Digits with no separator at all: a card number joined to a prefix by a separator
# (``S1-R1-4539160000000004``: the run ``14539160000000004`` starts with 1) is still one to a
# reader, so each unseparated run of digits is looked at too (a stricter reading than section
# 8's: docs/concepts/trust-boundaries.md).
_PLAIN_RUN = re.compile(r"\d{13,19}(?!\d)")


def card_number_in(text: str) -> bool:
    """Whether ``text`` holds a card number, read as section 8 says."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    for match in _DIGIT_RUN.finditer(text):
        run = match.group()
        if len(run) >= 13 and (_is_card_number(_ascii_digits(run))
                               or any(_is_card_number(_ascii_digits(plain.group()))
                                      for plain in _PLAIN_RUN.finditer(run) if plain.start() == 0
                                      or not run[plain.start() - 1].isdigit())):
            return True
    return False


def has_long_digit_run(text: str) -> bool:
    """A run of 13 or more digits (section 8: such an identifier is never echoed in an error)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return any(len(_ascii_digits(match.group())) >= 13 for match in _DIGIT_RUN.finditer(text))


def redact_long_digit_runs(text: str) -> str:
    """``text`` with every run of 13 or more digits written as "…": what an error may echo."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _DIGIT_RUN.sub(lambda match: "…" if len(_ascii_digits(match.group())) >= 13 else match.group(), text)


def card_key(key: str) -> bool:
    """Whether a key names card security data (read after NFKC, as text is: ``ＣＶＶ`` is ``CVV``)."""
    if not key.isascii():
        key = unicodedata.normalize("NFKC", key)
    letters = "".join(char for char in key.lower() if char.isalnum())
    return letters in _KEY_NAMES or any(part in letters for part in _KEY_PARTS)


def _number_is_card(value: int | float) -> bool:
    if isinstance(value, float):
        if not math.isfinite(value):
            return False
        if 1e12 <= abs(value) < 1e19 and abs(value) > 2**53:
            # 13-19 integer digits a float cannot hold exactly: the digits as written are gone by
            # the time it is decoded, and what is left is most of them. Refused as a card number
            # might be (no amount or quantity of the contract is a float).
            return True
        value = int(value)
    return _is_card_number(str(abs(value)))


def find_card_data(document: Any, path: str = "") -> str | None:
    """The path of the first card number or card-security key in ``document``, else None."""
    if isinstance(document, dict):
        for key, value in document.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                if card_number_in(key):
                    return path or "(key)"  # the key itself is never echoed
                if card_key(key):
                    return child
                if key in _GTIN_KEYS and isinstance(value, str) and gtin_valid(value):
                    continue  # a barcode, not a card number
            found = find_card_data(value, child)
            if found is not None:
                return found
        return None
    if isinstance(document, (list, tuple)):
        for index, value in enumerate(document):
            found = find_card_data(value, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(document, str):
        return path if card_number_in(document) else None
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        return path if _number_is_card(document) else None
    return None


# The pre-check over a closed document's JSON text (an event as msgspec writes it: ASCII
# letters unescaped, no spaces). A superset of what the walk finds among values, answered in C:
# - digits and the separators all become "0": any run that could be a card number shows as 13
#   zeros in a row; a JSON number with an exponent (``0e0``, ``0e+0``) may stand for a long
#   integer;
# - any escape (a tab as ``\t``, a ``\u`` escape) or any non-ASCII character: walk (NFKC and
#   Unicode digits are the walk's);
# - keys: in a closed document only an ``ext`` object may hold a key the schema does not name
#   (and no name the schema has is a card key: tests/unit/test_card_data.py), so a document
#   with an ``ext`` is walked. A key anywhere else is refused as an unknown field, and the codec
#   walks the document then, so that a card key still answers ``pan_detected``.
_RUN_BYTES = bytes.maketrans(b"0123456789 ./_-E", b"0" * 15 + b"e")
_THIRTEEN = b"0" * 13


def may_hold_card_data(json_text: str) -> bool:
    """Cheap pre-check over a closed document's JSON text; False means certainly no card data
    among its values and its ``ext`` keys (see above: other keys are the schema's)."""
    if not json_text.isascii():
        return True
    raw = json_text.encode()
    runs = raw.translate(_RUN_BYTES)
    return (_THIRTEEN in runs or b"0e0" in runs or b"0e+0" in runs or b"\\" in raw
            or b'"ext"' in raw)


def refuse_card_text(text: str, field: str, *, barcode: bool = False) -> None:
    """Raise ``PanDetected`` naming ``field`` if ``text`` (a name, a reason, an id from a path)
    holds a card number; ``barcode``: a GTIN there is a barcode, as in a ``sku``."""
    if barcode and gtin_valid(text):
        return
    if card_number_in(text):
        raise PanDetected(field, "a full card number is not accepted here")


def refuse_card_data(document: Any, json_text: str | None = None) -> None:
    """Raise ``PanDetected`` naming the field (never the number) if card data is present.

    ``json_text``, the document as JSON, lets the common case skip the walk: only for a closed
    document (an event), whose caller walks it again when the codec finds an unknown key."""
    if json_text is not None and not may_hold_card_data(json_text):
        return
    field = find_card_data(document)
    if field is not None:
        raise PanDetected(field, "a full card number or card security data is not accepted; send only "
                          "scheme, first6, last4, auth_code and terminal_id")
