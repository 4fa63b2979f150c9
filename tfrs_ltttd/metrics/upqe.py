"""UPQE, the Unified Performance-Quality-Efficiency score.

The LT-TTD paper (arXiv 2505.04434) introduces UPQE as a metric that
"holistically captures retrieval quality, ranking performance, and
computational efficiency" of a unified architecture; its formula is not at
hand, so the definition here is ours (PAPER.md, [D]):

    UPQE = R^a * Q^b * E^c,   a + b + c = 1,

with R = recall@K of the retrieval stage, Q = NDCG@k of the final list and
E = min(1, budget_ms / p50_latency_ms). A weighted geometric mean: a system
cannot buy one component with the collapse of another.
"""

from __future__ import annotations

from typing import Tuple

DEFAULT_WEIGHTS = (0.4, 0.4, 0.2)
DEFAULT_BUDGET_MS = 10.0


def upqe(recall: float, ndcg: float, latency_ms: float,
         budget_ms: float = DEFAULT_BUDGET_MS,
         weights: Tuple[float, float, float] = DEFAULT_WEIGHTS) -> float:
  """Returns `recall^a * ndcg^b * min(1, budget_ms / latency_ms)^c`.

  Args:
    recall: recall@K of the retrieval stage, in [0, 1].
    ndcg: NDCG@k of the final ranking, in [0, 1].
    latency_ms: p50 latency of one recommendation request, > 0.
    budget_ms: the latency that earns full efficiency, > 0.
    weights: `(a, b, c)`, non-negative, summing to 1.

  Returns:
    UPQE in [0, 1].

  Example:

  >>> round(upqe(0.5, 0.25, 20.0), 4)  # 0.5^.4 * 0.25^.4 * 0.5^.2
  0.3789
  """
  for name, value in (("recall", recall), ("ndcg", ndcg)):
    if not 0.0 <= value <= 1.0:
      raise ValueError(f"{name} must be in [0, 1], got {value}.")
  if latency_ms <= 0 or budget_ms <= 0:
    raise ValueError(f"latency_ms and budget_ms must be > 0, got "
                     f"{latency_ms} and {budget_ms}.")
  if len(weights) != 3 or min(weights) < 0 or abs(sum(weights) - 1) > 1e-6:
    raise ValueError(f"weights must be 3 non-negative numbers summing to 1, "
                     f"got {weights}.")
  a, b, c = weights
  efficiency = min(1.0, budget_ms / latency_ms)
  return float(recall**a * ndcg**b * efficiency**c)
