"""Money: stored as integer fen, handled as ``Decimal`` yuan, never float.

Rounding is half-up to the fen; proration is deterministic and sum-preserving (largest
remainder, ties to the earlier line), so a discount spread over lines adds up exactly and
a return refunds exactly what its lines were charged.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
_FEN = Decimal("0.01")


def to_fen(amount: Decimal | int | str) -> int:
    """Yuan (a Decimal, an int, or a decimal string) to integer fen, rounding half up.

    Floats are refused: they cannot represent most prices exactly.
    """
    if isinstance(amount, float):
        raise TypeError("money is never a float; pass a Decimal or a string")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount of money")
    return int((value * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_fen(fen: int) -> Decimal:
    """Integer fen to Decimal yuan with two places."""
    return (Decimal(fen) / FEN_PER_YUAN).quantize(_FEN)


def prorate(total: int, weights: Sequence[int]) -> list[int]:
    """Split *total* fen over *weights* (e.g. line amounts) so the parts sum to *total*.

    Each part is the floor of its exact share; the fen left over go one each to the parts
    with the largest remainders, earlier parts first on ties. Zero weights get zero unless
    every weight is zero, in which case the split is as even as possible.
    """
    if any(w < 0 for w in weights):
        raise ValueError("weights cannot be negative")
    if not weights:
        if total:
            raise ValueError("cannot split a non-zero amount over nothing")
        return []
    base = list(weights) if sum(weights) > 0 else [1] * len(weights)
    whole = sum(base)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    parts = [magnitude * w // whole for w in base]
    remainders = [magnitude * w % whole for w in base]
    leftover = magnitude - sum(parts)
    order = sorted(range(len(base)), key=lambda i: (-remainders[i], i))
    for index in order[:leftover]:
        parts[index] += 1
    return [sign * part for part in parts]
