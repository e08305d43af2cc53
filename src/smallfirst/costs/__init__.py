"""The cost ledger: prices for API models, hardware and energy for local ones, and the baseline."""

from smallfirst.costs.ledger import Ledger
from smallfirst.costs.records import Cost

__all__ = ["Cost", "Ledger"]
