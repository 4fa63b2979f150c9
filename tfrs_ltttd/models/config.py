"""The model's settings, validated once where they are made."""

from __future__ import annotations

import dataclasses
from typing import Tuple

from tfrs_ltttd.losses import RANKING_LOSSES
from tfrs_ltttd.settings import (NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE,
                                 POSITIVE_INT, SHARE, check, setting)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture and objective of an `LTTTDModel`.

  Attributes:
    output_dim: d, the tower embedding dimension.
    embedding_dim: dimension of each categorical feature embedding.
    hidden_units: tower MLP hidden widths.
    num_layers, num_heads, width, dropout: the listwise transformer.
    alpha, beta, gamma: weights of retrieval, ranking and distillation.
    temperature: distillation temperature T.
    reverse_weight: weight of the towers -> transformer term.
    ranking_loss: listwise loss name (`tfrs_ltttd.losses.RANKING_LOSSES`).
    retrieval_temperature: tau, the scale of the two-tower scores.
    ranking_gradient_to_towers: let the listwise loss train the towers
      directly (see `LTTTDModel`; off by default).
    history_length: H, the user's last interactions the query tower pools
      and the transformer attends to (0: no history).
    item_item_neighbours: N, each item's strongest EASE neighbours kept in
      the model (`tfrs_ltttd.layers.ItemItemScores`), whose sum over the
      user's history can join the served score (0: none; needs a history).
    item_item_l2: EASE's L2 penalty for that table.
    teacher_item_item_weight: the distillation teacher is the transformer's
      scores plus this weight times the item-item term (a teacher ensemble;
      needs `item_item_neighbours`); 0: the transformer alone.
    wide_distillation: distil over the step's in-batch items too, beyond
      the list, with the towers' own scores plus `teacher_item_item_weight`
      times the item-item term as teacher (the transformer scores lists
      only); needs `teacher_item_item_weight > 0`.
    history_matches: the transformer reads, for each candidate, the share
      of the user's history that shares each categorical item attribute
      with it and whether the latest item does (`layers.HistoryMatches`;
      needs a history, and items with a categorical feature besides the id).
  """

  output_dim: int = setting(32, POSITIVE_INT)
  embedding_dim: int = setting(32, POSITIVE_INT)
  hidden_units: Tuple[int, ...] = setting((64,), POSITIVE_INT)
  num_layers: int = setting(2, POSITIVE_INT)
  num_heads: int = setting(4, POSITIVE_INT)
  width: int = setting(64, POSITIVE_INT)
  dropout: float = setting(0.1, SHARE)
  alpha: float = setting(1.0, NON_NEGATIVE)
  beta: float = setting(1.0, NON_NEGATIVE)
  gamma: float = setting(1.0, NON_NEGATIVE)
  temperature: float = setting(1.0, POSITIVE)
  reverse_weight: float = setting(0.0, NON_NEGATIVE)
  ranking_loss: str = "softmax"
  retrieval_temperature: float = setting(0.1, POSITIVE)
  ranking_gradient_to_towers: bool = False
  history_length: int = setting(50, NON_NEGATIVE_INT)
  item_item_neighbours: int = setting(0, NON_NEGATIVE_INT)
  item_item_l2: float = setting(200.0, POSITIVE)
  teacher_item_item_weight: float = setting(0.0, NON_NEGATIVE)
  wide_distillation: bool = False
  history_matches: bool = True

  def __post_init__(self):
    check(self)
    if self.width % self.num_heads:
      raise ValueError(f"ModelConfig.width ({self.width}) must be a multiple "
                       f"of num_heads ({self.num_heads}).")
    if self.item_item_neighbours and not self.history_length:
      raise ValueError("ModelConfig.item_item_neighbours scores candidates "
                       "from the user's history: set history_length > 0.")
    if self.teacher_item_item_weight and not self.item_item_neighbours:
      raise ValueError("ModelConfig.teacher_item_item_weight adds the "
                       "item-item term to the teacher: set "
                       "item_item_neighbours > 0.")
    if self.wide_distillation and not self.teacher_item_item_weight:
      raise ValueError("ModelConfig.wide_distillation's teacher is the "
                       "towers plus the item-item term: set "
                       "teacher_item_item_weight > 0.")
    if self.ranking_loss not in RANKING_LOSSES:
      raise ValueError("ModelConfig.ranking_loss must be one of "
                       f"{sorted(RANKING_LOSSES)}, got {self.ranking_loss!r}.")
