"""Amounts of money: what callers may pass, and how it goes on the wire.

Money is :class:`decimal.Decimal` end to end. Callers may pass ``Decimal``, ``int`` or ``str``;
a ``float`` is taken through its ``repr`` (``0.1`` means ``Decimal("0.1")``, not the binary
fraction behind it). The API counts euros to the thousandth, so more than 3 decimal places is
refused rather than rounded: rounding someone's money is not ours to decide.
"""

from __future__ import annotations

import re
from decimal import MIN_EMIN, Decimal, localcontext
from typing import TypeAlias

from ._errors import ValidationError

__all__ = ["Amount", "format_money", "parse_amount", "to_wire"]

Amount: TypeAlias = Decimal | int | str | float
"""What callers may pass wherever an amount of euros is expected.

A ``float`` is read through its ``repr`` (``0.1`` means ``Decimal("0.1")``); a ``str`` must be
plain ASCII digits with an optional point (``"2.5"``; not ``"1e3"``, ``"1_000"`` or other
scripts' digits). Zero, negatives, NaN, infinities and more than 3 decimal places raise
[`ValidationError`][] before anything is sent:

```python
await client.subaccounts.add_credit(token, Decimal("2.5"))  # or "2.5", or 3
```
"""

PLACES = 3
#: An amount written as text: ASCII digits, an optional point, spaces around allowed. A sign is
#: let through only to be refused with "must be greater than 0"; places are checked later.
_PLAIN = re.compile(r"[ \t]*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t]*", re.ASCII)
# No euro amount needs more than 15 integer digits; the bound keeps every amount exactly
# representable in the default 28-digit decimal context.
_MAX_ADJUSTED_EXPONENT = 14


def parse_amount(value: object, *, field: str = "amount") -> Decimal:
    """Return ``value`` as an exact, positive ``Decimal`` with at most 3 places.

    ```pycon
    >>> parse_amount("2.50")
    Decimal('2.5')
    >>> parse_amount(10)
    Decimal('10')
    >>> parse_amount("0.0001", field="price")
    Traceback (most recent call last):
    ...
    smspartner_async.ValidationError: price has more than 3 decimal places: '0.0001'
    ```

    Raises [`ValidationError`][] (naming ``field``) for anything else: bools, NaN,
    infinities, zero, negatives, more than 3 decimal places, text that is not plain ASCII
    digits with an optional point (exponents, underscores, other scripts' digits), other types.
    Every method that takes an amount applies it; call it yourself to check input early (a
    CSV file, a form) with the library's own rules.
    """
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool):
        raise ValidationError(f"{field} must be an amount of euros, not a bool", field=field)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # a float's repr always parses (nan, inf: refused below)
    elif isinstance(value, str):
        amount = _from_text(value, field)
    else:
        raise ValidationError(
            f"{field} must be a Decimal, int or str, not {type(value).__name__}", field=field
        )
    if not amount.is_finite():
        raise ValidationError(f"{field} must be a finite number, got {value!r}", field=field)
    if amount <= 0:
        raise ValidationError(f"{field} must be greater than 0, got {value!r}", field=field)
    if amount.adjusted() > _MAX_ADJUSTED_EXPONENT:
        raise ValidationError(f"{field} is too large: {value!r}", field=field)
    # normalize() rounds to the context's precision (28 digits by default): with enough of
    # it, 5.0000000000000000000000000001 is refused below instead of becoming 5. It also
    # flushes exponents under the context's Emin to zero: 1e-999999999 must not become 0.
    with localcontext(prec=max(28, len(amount.as_tuple().digits)), Emin=MIN_EMIN):
        amount = amount.normalize()
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers have an int exponent
    if exponent < -PLACES:
        raise ValidationError(
            f"{field} has more than {PLACES} decimal places: {value!r}", field=field
        )
    # normalize() writes 100 as 1E+2; give whole amounts back their plain form.
    return amount.quantize(Decimal(1)) if exponent > 0 else amount


def _from_text(text: str, field: str) -> Decimal:
    # Decimal() alone takes far more than people mean: "1e3", "1_000", "NaN", Arabic-Indic or
    # fullwidth digits. Money written as text is plain ASCII digits and at most one point.
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise ValidationError(
            f"{field} must be written as plain digits with an optional point and at most "
            f"{PLACES} decimals (like 25 or 2.5), got {text!r}",
            field=field,
        )
    return Decimal(match[1])


def to_wire(amount: Decimal) -> str:
    """The amount as the API expects it: a plain decimal string, never exponent notation."""
    return format(amount, "f")


def format_money(amount: Decimal) -> str:
    """An amount for people, everywhere the library and its CLI print one: thousands separators
    and three decimal places like the API's balances (``1,234.500``); more places only when the
    amount has them, so it is never rounded."""
    exponent = amount.as_tuple().exponent
    places = max(3, -exponent) if isinstance(exponent, int) else 3
    return f"{amount:,.{places}f}"
