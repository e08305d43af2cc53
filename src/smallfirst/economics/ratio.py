"""The cost ratio rho = sum C / sum C_baseline, measured rather than assumed, and its break-down.

Textbook forms: rho = f*r + (1 - f) + overhead for routing, rho = r + (1 - f) + overhead for a cascade
(r: small/large price ratio, f: share kept small). Per-prompt token counts differ, so the measured terms
below are weighted by the baseline cost of each request; with them the parts add up to rho exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from smallfirst.economics.stick import RequestValue
from smallfirst.economics.value import ZERO
from smallfirst.errors import DataError


@dataclass(frozen=True, slots=True)
class RhoBreakdown:
    rho: Decimal
    kind: str  # "routing" or "cascade"
    #: share of requests answered by a small model
    f: Decimal
    #: the same share weighted by baseline cost, the f that makes the identity exact
    f_weighted: Decimal
    #: small/large price ratio on the requests it applies to (all requests for a cascade)
    r: Decimal
    small_term: Decimal
    large_term: Decimal
    wasted_term: Decimal
    overhead_term: Decimal

    @property
    def formula(self) -> str:
        if self.kind == "cascade":
            return (
                f"rho = r + (1-f) + overhead = {self.r:.3f} + {self.large_term:.3f} + "
                f"{self.overhead_term:.3f} = {self.rho:.3f}"
            )
        return (
            f"rho = f*r + (1-f) + overhead = {self.f_weighted:.3f}*{self.r:.3f} + {self.large_term:.3f} + "
            f"{self.overhead_term:.3f} = {self.rho:.3f}"
        )


def rho_breakdown(rows: Sequence[RequestValue]) -> RhoBreakdown:
    base = sum((r.baseline_cost for r in rows), ZERO)
    if not rows or base == 0:
        raise DataError(
            "rho needs requests with a non-zero baseline cost",
            hint="price the baseline (LLM-only) model for these requests",
        )
    small = [r for r in rows if r.small]
    large = [r for r in rows if not r.small]
    core_small = sum((r.cost - r.overhead - r.wasted for r in small), ZERO)
    core_large = sum((r.cost - r.overhead - r.wasted for r in large), ZERO)
    wasted = sum((r.wasted for r in rows), ZERO)
    overhead = sum((r.overhead for r in rows), ZERO)
    base_small = sum((r.baseline_cost for r in small), ZERO)
    cascade = wasted > 0
    # a cascade runs the small model on every request, so its r is taken over all of them
    r_ratio = (core_small + wasted) / base if cascade else (core_small / base_small if base_small else ZERO)
    return RhoBreakdown(
        rho=(core_small + core_large + wasted + overhead) / base,
        kind="cascade" if cascade else "routing",
        f=Decimal(len(small)) / Decimal(len(rows)),
        f_weighted=base_small / base,
        r=r_ratio,
        small_term=core_small / base,
        large_term=core_large / base,
        wasted_term=wasted / base,
        overhead_term=overhead / base,
    )
