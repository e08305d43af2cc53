"""Economics: the value stick (B, P, C), scenarios, price and policy optimisation, and reports.

Start at ``workload.from_outcomes`` / ``workload.from_log`` and ``report.write``; ``policy.profit_utility``
is the maximum-profit target for routing calibration.
"""
