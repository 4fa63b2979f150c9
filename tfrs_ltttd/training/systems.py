"""Either system by name: LT-TTD trained jointly, or the decoupled cascade."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.models.ltttd import LTTTDModel
from tfrs_ltttd.training.cascade import train_cascade, train_reranker
from tfrs_ltttd.training.config import TrainConfig
from tfrs_ltttd.training.loop import fit

SYSTEMS = ("ltttd", "cascade")
# How reports and progress lines name each system.
SYSTEM_NAMES = {"ltttd": "LT-TTD", "cascade": "the cascade"}
# The `TrainConfig` field that holds the epochs of each system's re-ranker
# stage on its frozen towers (`train_reranker`): LT-TTD's closing stage, the
# cascade's second.
RERANKER_EPOCHS = {"ltttd": "closing_epochs", "cascade": "rerank_epochs"}


def train_system(
    system: str,
    data: Interactions,
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
    verbose: int = 0,
) -> Tuple[LTTTDModel, Dict[str, List[float]]]:
  """Trains `system` from scratch, seeded with `train_config.seed`.

  Args:
    system: `"ltttd"` (both stages at once, `fit`, then, with
      `train_config.closing_epochs`, its re-ranker alone on its final
      towers' lists, `train_reranker`) or `"cascade"` (the towers, then the
      re-ranker on their frozen lists, `train_cascade`).
    data: the interactions.
    model_config, train_config: the settings.
    callbacks: Keras callbacks (every stage).
    verbose: Keras verbosity.

  Returns:
    `(model, history)`; a cascade's history names each stage's values
    `l1_*` and `l2_*`, LT-TTD's those of its closing stage `closing_*`.

  Raises:
    ValueError: for a system not in `SYSTEMS`.

  Example:

  >>> from tfrs_ltttd.data import synthetic
  >>> data = synthetic.generate(synthetic.SyntheticConfig(
  ...     num_users=30, num_items=40, interactions_per_user=5))
  >>> model, history = train_system("cascade", data, ModelConfig(
  ...     output_dim=8, width=8), TrainConfig(epochs=1, batch_size=32,
  ...     list_batch_size=16, num_hard_negatives=4))
  >>> sorted(k for k in history if k.endswith("total_loss"))
  ['l1_total_loss', 'l2_total_loss']
  """
  if system not in SYSTEMS:
    raise ValueError(f"system must be one of {SYSTEMS}, got '{system}'.")
  tf.keras.utils.set_random_seed(train_config.seed)
  if system == "ltttd":
    model = LTTTDModel.from_data(data, model_config)
    history = fit(model, data, train_config, callbacks, verbose)
    if train_config.closing_epochs:
      closing = train_reranker(model, data, train_config,
                               train_config.closing_epochs, callbacks, verbose)
      history.update({f"closing_{k}": v for k, v in closing.items()})
    return model, history
  model, stages = train_cascade(data, model_config, train_config, callbacks,
                                verbose)
  history = {f"l1_{k}": v for k, v in stages["l1"].items()}
  history.update({f"l2_{k}": v for k, v in stages["l2"].items()})
  return model, history
