"""The numpy operations the planner's index uses (domain/route_index.py, route_scores.py), over plain lists.

A named model, a `models` chain or an alias plans over an index of its targets' rows: a handful, for which
numpy costs more than it saves (importing it was ~150 ms of every cold start whose first request names a
model). That index is built with this module in numpy's place (`RouteIndex.arrays`), so the filters and the
scores keep one implementation. Element by element these are the IEEE double operations numpy does (log10 is
C's, as in tests/oracle_planner.py), so a row's scores are the same floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

Scalar = bool | int | float


class PlainArray:
    """One column of Python bools, ints or floats with the operators, indexing and methods of a 1-d ndarray
    the planner uses. `dtype` (bool, int or float) tells a mask, which selects, from positions, which pick."""

    __slots__ = ("dtype", "values")

    def __init__(self, values: list[Any], dtype: type) -> None:
        self.values = values
        self.dtype = dtype

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"PlainArray({self.values!r}, {self.dtype.__name__})"

    def __getitem__(self, at: int | slice | PlainArray) -> Any:
        if isinstance(at, int):
            return self.values[at]
        if isinstance(at, slice):
            return PlainArray(self.values[at], self.dtype)
        if at.dtype is bool:
            return PlainArray([v for v, keep in zip(self.values, at.values, strict=True) if keep], self.dtype)
        values = self.values
        return PlainArray([values[i] for i in at.values], self.dtype)

    def __setitem__(self, at: int, value: Scalar) -> None:
        self.values[at] = self.dtype(value)

    def __invert__(self) -> PlainArray:
        return PlainArray([not v for v in self.values], bool)

    # Each operator written out (no function call per element): a scalar operand, or an array as long.
    def __add__(self, other: PlainArray | Scalar) -> PlainArray:
        if type(other) is PlainArray:
            return PlainArray([a + b for a, b in zip(self.values, other.values, strict=True)], _sum_type(self, other))
        return PlainArray([a + other for a in self.values], _sum_type(self, other))

    def __radd__(self, other: Scalar) -> PlainArray:
        return self + other

    def __sub__(self, other: PlainArray | Scalar) -> PlainArray:
        if type(other) is PlainArray:
            return PlainArray([a - b for a, b in zip(self.values, other.values, strict=True)], _sum_type(self, other))
        return PlainArray([a - other for a in self.values], _sum_type(self, other))

    def __rsub__(self, other: Scalar) -> PlainArray:
        return PlainArray([other - a for a in self.values], _sum_type(self, other))

    def __mul__(self, other: PlainArray | Scalar) -> PlainArray:
        if type(other) is PlainArray:
            return PlainArray([a * b for a, b in zip(self.values, other.values, strict=True)], _sum_type(self, other))
        return PlainArray([a * other for a in self.values], _sum_type(self, other))

    def __rmul__(self, other: Scalar) -> PlainArray:
        return self * other

    def __truediv__(self, other: PlainArray | Scalar) -> PlainArray:
        if type(other) is PlainArray:
            return PlainArray([a / b for a, b in zip(self.values, other.values, strict=True)], float)
        return PlainArray([a / other for a in self.values], float)

    def __rtruediv__(self, other: Scalar) -> PlainArray:
        return PlainArray([other / a for a in self.values], float)

    def __gt__(self, other: Scalar) -> PlainArray:
        return PlainArray([a > other for a in self.values], bool)

    def __lt__(self, other: Scalar) -> PlainArray:
        return PlainArray([a < other for a in self.values], bool)

    def __and__(self, other: PlainArray) -> PlainArray:
        return PlainArray([a and b for a, b in zip(self.values, other.values, strict=True)], bool)

    def __or__(self, other: PlainArray) -> PlainArray:
        return PlainArray([a or b for a, b in zip(self.values, other.values, strict=True)], bool)

    def any(self) -> bool:
        return any(self.values)

    def nonzero(self) -> tuple[PlainArray]:
        return (PlainArray([i for i, v in enumerate(self.values) if v], int),)

    def copy(self) -> PlainArray:
        return PlainArray(list(self.values), self.dtype)

    def min(self) -> Scalar:
        return min(self.values)  # type: ignore[no-any-return]

    def max(self) -> Scalar:
        return max(self.values)  # type: ignore[no-any-return]

    def tolist(self) -> list[Any]:
        return list(self.values)

    def astype(self, dtype: type) -> PlainArray:
        return PlainArray([dtype(v) for v in self.values], dtype)


def _dtype(operand: PlainArray | Scalar) -> type:
    return operand.dtype if isinstance(operand, PlainArray) else type(operand)


def _sum_type(a: PlainArray, b: PlainArray | Scalar) -> type:
    """numpy's type for +, - and ×: float when either side is, else int."""
    return float if a.dtype is float or _dtype(b) is float else int


def _values(operand: PlainArray | Scalar, size: int) -> list[Any]:
    return operand.values if isinstance(operand, PlainArray) else [operand] * size


def array(values: Iterable[Scalar], dtype: type) -> PlainArray:
    return PlainArray([dtype(v) for v in values], dtype)


def zeros(size: int, dtype: type = float) -> PlainArray:
    return PlainArray([dtype(0)] * size, dtype)


def ones(size: int, dtype: type = float) -> PlainArray:
    return PlainArray([dtype(1)] * size, dtype)


def count_nonzero(mask: PlainArray) -> int:
    return mask.values.count(True)  # masks hold bools only (every operation that makes one makes bools)


def logical_xor(a: PlainArray, b: PlainArray, out: PlainArray | None = None) -> PlainArray:
    values = [x != y for x, y in zip(a.values, b.values, strict=True)]
    if out is None:
        return PlainArray(values, bool)
    out.values[:] = values
    return out


def where(condition: PlainArray, yes: PlainArray | Scalar, no: PlainArray | Scalar) -> PlainArray:
    size = len(condition.values)
    picked = [y if c else n for c, y, n in zip(condition.values, _values(yes, size), _values(no, size), strict=True)]
    return PlainArray(picked, float if float in (_dtype(yes), _dtype(no)) else _dtype(no))


def maximum(values: PlainArray, floor: Scalar) -> PlainArray:
    dtype = float if float in (values.dtype, type(floor)) else int
    return PlainArray([dtype(v if v >= floor else floor) for v in values.values], dtype)


def minimum(values: PlainArray, ceiling: Scalar) -> PlainArray:
    dtype = float if float in (values.dtype, type(ceiling)) else int
    return PlainArray([dtype(v if v <= ceiling else ceiling) for v in values.values], dtype)


def log10(values: PlainArray) -> PlainArray:
    return PlainArray([math.log10(v) for v in values.values], float)


def rint(values: PlainArray) -> PlainArray:
    """Half to even, as numpy's rint and Python's round."""
    return PlainArray([float(round(v)) for v in values.values], float)


def abs(values: PlainArray) -> PlainArray:  # numpy's name: this module stands in for numpy
    return PlainArray([math.fabs(v) for v in values.values], float)
