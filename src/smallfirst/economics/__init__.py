"""Economics: is small-model-first profitable here? The value stick (B, P, C), scenarios, the one demand model,
price and policy optimisation, the verdict's sensitivity and uncertainty, and the report.

- ``assumptions``: the inputs a user states in TOML (B and P per task type, demand, fixed costs, prices).
- ``workload``: scenarios from an outcome set (``from_outcomes``) or the request log (``from_log``), priced
  through ``costs/``; ``profit_utility`` is the maximum-profit target for routing calibration.
- ``maths``: the value stick, demand, profit, break-even, best price, rho.
- ``decision``: dominance, the recommendation, sensitivity (break-even of every assumption), bootstrap intervals.
- ``report``: ``write`` the HTML, Markdown, CSV and PNG files; ``report.verdict.verdict`` the sentences.
"""
