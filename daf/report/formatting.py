"""How numbers read in the report: the template filters `num`, `pct` and `pval`.

A missing value (None, NaN) is an en dash everywhere, so an empty cell is never mistaken
for a zero.
"""

from __future__ import annotations

import numpy as np

MISSING = "–"


def num(x, digits: int = 3):
    """A float to `digits` significant digits (±∞ spelled out); anything else unchanged."""
    if x is None:
        return MISSING
    if isinstance(x, (float, np.floating)):
        if np.isnan(x):
            return MISSING
        if np.isinf(x):
            return "∞" if x > 0 else "−∞"
        if abs(x) < 1e-9:  # floating-point dust of a normalised 0
            x = 0.0
        return f"{x:.{digits}g}"
    return x


def pct(x) -> str:
    """A fraction in 0..1 as a whole percentage: 0.256 -> '26%'."""
    return MISSING if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.0f}%"


def pval(p) -> str:
    """A p-value to three decimals, '<0.001' below that."""
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"
