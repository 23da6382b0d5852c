"""Minor units to a decimal string in the currency's own exponent (ISO 4217)."""

from __future__ import annotations

_ZERO_DECIMALS = frozenset(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"])
_THREE_DECIMALS = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


def exponent(currency: str) -> int:
    if currency in _ZERO_DECIMALS:
        return 0
    if currency in _THREE_DECIMALS:
        return 3
    return 2


def decimal_text(minor: int, currency: str) -> str:
    places = exponent(currency)
    if places == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10 ** places)
    return f"{sign}{whole}.{fraction:0{places}d}"
