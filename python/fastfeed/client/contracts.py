"""Contracts a client subscribes to: :class:`Stock`, :class:`Option`, :class:`Index` (SPEC §3.1).

Every contract is checked on construction by the Rust validator the server itself uses
(:func:`fastfeed.check_contract`), so a contract the server would refuse is refused here, with
the same message (``contract.expiration: not a calendar date: 20250230``), as a
:class:`~fastfeed.ContractError` (a ``ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from fastfeed._core import check_contract

__all__ = ["Contract", "Index", "Option", "SecType", "Stock", "contract_from_tuple"]

SecType: TypeAlias = Literal["STOCK", "OPTION", "INDEX"]


@dataclass(frozen=True, slots=True)
class _Named:
    """A contract identified by its symbol alone (stocks and indices)."""

    symbol: str
    sec_type: ClassVar[SecType]

    def __post_init__(self) -> None:
        check_contract(self.sec_type, self.symbol)

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
        check_contract("OPTION", self.symbol, self.expiration, self.strike, self.right)

    @classmethod
    def parse(cls, text: str) -> Option:
        """``SPY:20250321:570000:C`` → ``Option("SPY", 20250321, 570000, "C")``; the contract
        is checked like any other (:class:`~fastfeed.ContractError`)."""
        parts = text.split(":")
        if len(parts) != 4:
            raise ValueError(f"expected SYMBOL:YYYYMMDD:STRIKE:C|P, got {text!r}")
        symbol, expiration, strike, right = parts
        try:
            exp, k = int(expiration), int(strike)
        except ValueError:
            raise ValueError(f"expected SYMBOL:YYYYMMDD:STRIKE:C|P, got {text!r}") from None
        return cls(symbol, exp, k, right)  # type: ignore[arg-type]  # checked on construction

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
