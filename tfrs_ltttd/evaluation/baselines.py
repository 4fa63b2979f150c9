"""The baselines a recommender reviewer runs first: popularity and EASE.

Both score every (user, item) pair from the train interactions alone and are
measured by `tfrs_ltttd.evaluation.evaluate_scores` on the same split and
metrics as the two-stage systems.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tfrs_ltttd._memo import LastAnswers
from tfrs_ltttd.data.interactions import (Interactions, interaction_matrix,
                                         validation_split)
from tfrs_ltttd.evaluation.protocol import evaluate_scores
from tfrs_ltttd.layers.item_item import ease_weights

EASE_LAMBDAS = (10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)


class Popularity:
  """Every user gets the items with the most train interactions."""

  def __init__(self, data: Interactions):
    self.counts = np.bincount(data.train["item"],
                              minlength=data.num_items).astype(np.float32)

  def __call__(self, user_rows: np.ndarray) -> np.ndarray:
    return np.broadcast_to(self.counts, (len(user_rows), len(self.counts)))


class EASE:
  """EASE, the closed-form linear item-item model: a user's scores are
  `x_u B`, `B = ease_weights(X, l2)` (`tfrs_ltttd.layers.item_item`), `X`
  the binary user x item matrix of train interactions.

  Args:
    data: the interactions (train only is read).
    l2: lambda, the L2 penalty.

  Example:

  >>> from tfrs_ltttd.data import synthetic
  >>> data = synthetic.generate(synthetic.SyntheticConfig(
  ...     num_users=30, num_items=40, interactions_per_user=6))
  >>> EASE(data, l2=10.0)(np.array([0, 1])).shape
  (2, 40)

  References:
    H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
    WWW 2019, arXiv 1905.03375.
  """

  def __init__(self, data: Interactions, l2: float = 500.0):
    self.l2 = float(l2)
    self.x = interaction_matrix(data)
    self.b = ease_weights(self.x, self.l2)

  def __call__(self, user_rows: np.ndarray) -> np.ndarray:
    return self.x[user_rows] @ self.b


# choose_ease_l2's answers for the last few data sets: the search (for the
# item-item table) and the baselines ask for the same one, and on a catalogue
# of 10k items each lambda costs about a minute.
_CHOSEN = LastAnswers(size=4)


def choose_ease_l2(data: Interactions, lambdas: Sequence[float] = EASE_LAMBDAS,
                   fraction: float = 0.1, metric: str = "ndcg@10"
                   ) -> Tuple[float, Dict[float, float]]:
  """Picks EASE's lambda on a validation split cut from train (never test).

  The answer is kept for the last few data sets asked about (by
  `Interactions.fingerprint`), so that asking again costs nothing.

  Returns:
    `(best lambda, {lambda: validation metric})`.
  """
  key = (data.fingerprint()["sha256"], tuple(float(l2) for l2 in lambdas),
         float(fraction), metric)

  def choose() -> Tuple[float, Dict[float, float]]:
    validation = validation_split(data, fraction)
    scores = {l2: evaluate_scores(EASE(validation, l2), validation)[metric]
              for l2 in key[1]}
    return max(scores, key=scores.get), scores

  best, scores = _CHOSEN.get(key, choose)
  return best, dict(scores)


def run_baselines(data: Interactions, k_retrieval: int = 100,
                  recall_ks: Sequence[int] = (),
                  l2: Optional[float] = None) -> Dict[str, Dict[str, float]]:
  """Popularity and EASE (lambda chosen on validation unless given),
  measured on `data`'s test split."""
  out = {"popularity": evaluate_scores(Popularity(data), data, k_retrieval,
                                       recall_ks=recall_ks)}
  validation_scores = None
  if l2 is None:
    l2, validation_scores = choose_ease_l2(data)
  out["ease"] = evaluate_scores(EASE(data, l2), data, k_retrieval,
                                recall_ks=recall_ks)
  out["ease"]["l2"] = float(l2)
  if validation_scores:
    out["ease"]["validation_ndcg@10"] = {
        f"{k:g}": v for k, v in validation_scores.items()}
  return out
