"""Contracts a client subscribes to: :class:`Stock`, :class:`Option`, :class:`Index` (SPEC §3.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, TypeAlias

__all__ = ["Contract", "Index", "Option", "SecType", "Stock", "contract_from_tuple"]

SecType: TypeAlias = Literal["STOCK", "OPTION", "INDEX"]

_SYMBOL: Final = re.compile(r"[A-Z0-9./^-]{1,16}")


def _check_symbol(symbol: str) -> None:
    if not isinstance(symbol, str) or _SYMBOL.fullmatch(symbol) is None:
        raise ValueError(f"symbol: expected 1-16 characters of A-Z 0-9 . / ^ -, got {symbol!r}")


@dataclass(frozen=True, slots=True)
class _Named:
    """A contract identified by its symbol alone (stocks and indices)."""

    symbol: str

    def __post_init__(self) -> None:
        _check_symbol(self.symbol)

    @property
    def key(self) -> str:
        """The contract key: the symbol."""
        return self.symbol

    def to_json(self) -> dict[str, Any]:
        """The ``contract`` object of a STREAM command."""
        return {"symbol": self.symbol}

    def __str__(self) -> str:
        return self.symbol


@dataclass(frozen=True, slots=True)
class Stock(_Named):
    """A stock, e.g. ``Stock("AAPL")``."""

    sec_type: ClassVar[SecType] = "STOCK"


@dataclass(frozen=True, slots=True)
class Index(_Named):
    """An index, e.g. ``Index("SPX")``."""

    sec_type: ClassVar[SecType] = "INDEX"


@dataclass(frozen=True, slots=True)
class Option:
    """An option: ``Option("SPY", 20250321, 570000, "C")``.

    ``expiration`` is YYYYMMDD; ``strike`` is in **thousandths of a dollar** (570000 = $570),
    as on the wire; ``right`` is ``"C"`` or ``"P"``.
    """

    symbol: str
    expiration: int
    strike: int
    right: Literal["C", "P"]
    sec_type: ClassVar[SecType] = "OPTION"

    def __post_init__(self) -> None:
        _check_symbol(self.symbol)
        if not isinstance(self.expiration, int) or not 10_000_101 <= self.expiration <= 99_991_231:
            raise ValueError(f"expiration: expected YYYYMMDD, got {self.expiration!r}")
        if not isinstance(self.strike, int) or isinstance(self.strike, bool) or self.strike <= 0:
            raise ValueError(
                "strike: expected a positive integer (thousandths of a dollar), "
                f"got {self.strike!r}"
            )
        if self.right not in ("C", "P"):
            raise ValueError(f'right: expected "C" or "P", got {self.right!r}')

    @classmethod
    def parse(cls, text: str) -> Option:
        """``SPY:20250321:570000:C`` → ``Option("SPY", 20250321, 570000, "C")``."""
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(f"expected SYMBOL:YYYYMMDD:STRIKE:C|P, got {text!r}")
        symbol, expiration, strike, right = parts
        try:
            exp, k = int(expiration), int(strike)
        except ValueError:
            raise ValueError(f"expected SYMBOL:YYYYMMDD:STRIKE:C|P, got {text!r}") from None
        if right == "C":
            return cls(symbol, exp, k, "C")
        if right == "P":
            return cls(symbol, exp, k, "P")
        raise ValueError(f'right: expected "C" or "P", got {right!r}')

    @property
    def key(self) -> str:
        """The contract key: ``SPY:20250321:570000:C``."""
        return f"{self.symbol}:{self.expiration}:{self.strike}:{self.right}"

    def to_json(self) -> dict[str, Any]:
        """The ``contract`` object of a STREAM command."""
        return {
            "symbol": self.symbol,
            "expiration": self.expiration,
            "strike": self.strike,
            "right": self.right,
        }

    def __str__(self) -> str:
        return self.key


Contract: TypeAlias = Stock | Option | Index


def contract_from_tuple(
    sec_type: str, symbol: str, expiration: int | None, strike: int | None, right: str | None
) -> Contract:
    """A contract from the decoder's ``(sec_type, symbol, expiration, strike, right)``."""
    if sec_type == "OPTION":
        assert expiration is not None and strike is not None and right in ("C", "P")
        return Option(symbol, expiration, strike, right)  # type: ignore[arg-type]
    if sec_type == "INDEX":
        return Index(symbol)
    return Stock(symbol)
