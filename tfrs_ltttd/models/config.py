"""The model's settings, validated once where they are made."""

from __future__ import annotations

import dataclasses
from typing import Tuple


def require_positive(owner: str, **fields) -> None:
  """Raises a ValueError naming `owner.field` for a value that is not > 0."""
  for name, value in fields.items():
    if value <= 0:
      raise ValueError(f"{owner}.{name} must be > 0, got {value}.")


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
  """

  output_dim: int = 32
  embedding_dim: int = 32
  hidden_units: Tuple[int, ...] = (64,)
  num_layers: int = 2
  num_heads: int = 4
  width: int = 64
  dropout: float = 0.1
  alpha: float = 1.0
  beta: float = 1.0
  gamma: float = 1.0
  temperature: float = 1.0
  reverse_weight: float = 0.0
  ranking_loss: str = "softmax"
  retrieval_temperature: float = 0.1
  ranking_gradient_to_towers: bool = False
  history_length: int = 50

  def __post_init__(self):
    if self.history_length < 0:
      raise ValueError("ModelConfig.history_length must be >= 0, got "
                       f"{self.history_length}.")
    require_positive("ModelConfig", output_dim=self.output_dim,
              embedding_dim=self.embedding_dim, num_layers=self.num_layers,
              num_heads=self.num_heads, width=self.width,
              temperature=self.temperature,
              retrieval_temperature=self.retrieval_temperature)
    for name in ("alpha", "beta", "gamma", "reverse_weight"):
      if getattr(self, name) < 0:
        raise ValueError(f"ModelConfig.{name} must be >= 0, got "
                         f"{getattr(self, name)}.")
