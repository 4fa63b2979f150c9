"""Settings chosen per data set, on a validation split cut from train.

Nothing here looks at the test split: `choose_settings` cuts each user's
latest train interactions off as validation (`validation_split`), trains on
the rest and keeps what scores best there. What it picks (epochs, the list
make-up, the distillation strength and its warm-up) and every score it saw
are returned, so a report can print them. The defaults of `ModelConfig` and
`TrainConfig` are starting points, not settings tuned on any data set.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions, validation_split
from tfrs_ltttd.evaluation import protocol
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.models.ltttd import LTTTDModel
from tfrs_ltttd.settings import (NON_NEGATIVE, OPEN_SHARE, POSITIVE_INT,
                                 SHARE, check, setting)
from tfrs_ltttd.training import loop
from tfrs_ltttd.training.config import TrainConfig

VALIDATION_K = 100


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """What `choose_settings` tries.

  Attributes:
    max_epochs: the longest run; the epoch count is read off its curve.
    min_epochs: the shortest epoch count considered.
    list_holdout_fractions: list make-ups tried (`TrainConfig`).
    gammas: distillation strengths tried at the chosen epochs, each with a
      warm-up of half the epochs (0 is always in, from the first stage).
    validation_fraction: each user's latest share of train held out.
  """

  max_epochs: int = setting(8, POSITIVE_INT)
  min_epochs: int = setting(2, POSITIVE_INT)
  list_holdout_fractions: Tuple[float, ...] = setting((0.0, 0.2), SHARE)
  gammas: Tuple[float, ...] = setting((0.2, 1.0), NON_NEGATIVE)
  validation_fraction: float = setting(0.1, OPEN_SHARE)

  def __post_init__(self):
    check(self)
    if not 1 <= self.min_epochs <= self.max_epochs:
      raise ValueError("SearchSpace needs 1 <= min_epochs <= max_epochs, got "
                       f"{self.min_epochs} and {self.max_epochs}.")
    if not self.list_holdout_fractions:
      raise ValueError("SearchSpace.list_holdout_fractions is empty.")


def quality(metrics: Dict[str, float], k: int = VALIDATION_K) -> float:
  """The selection score: the geometric mean of retrieval recall@k and the
  final NDCG@10 (UPQE without its latency term), so that a setting cannot
  buy one stage's quality with the other's."""
  return float(np.sqrt(max(metrics[f"recall@{k}"], 0.0)
                       * max(metrics["ndcg@10"], 0.0)))


class _EpochScores(tf.keras.callbacks.Callback):
  """Validation metrics after every epoch of a `tfrs_ltttd.training.fit` run."""

  def __init__(self, data: Interactions, k: int):
    super().__init__()
    self.data, self.k, self.rows = data, k, []

  def on_epoch_end(self, epoch, logs=None):
    metrics = protocol.evaluate(self.model, self.data, k_retrieval=self.k)
    self.rows.append({"epoch": epoch + 1, **metrics,
                      "quality": quality(metrics, self.k)})


def _run(data, model_config, train_config, k, seed):
  tf.keras.utils.set_random_seed(seed)
  model = LTTTDModel.from_data(data, model_config)
  scores = _EpochScores(data, k)
  loop.fit(model, data, train_config, callbacks=[scores], verbose=0)
  return scores.rows


def choose_settings(
    data: Interactions,
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    space: SearchSpace = SearchSpace(),
    seed: int = 0,
    log: Optional[Callable[[str], Any]] = None,
) -> Tuple[ModelConfig, TrainConfig, Dict[str, Any]]:
  """Picks epochs, list make-up and distillation for `data`, on validation.

  1. For each `list_holdout_fraction`, LT-TTD without distillation trains
     for `max_epochs`, scored on validation after every epoch; the best
     (fraction, epochs) by `quality` wins.
  2. At those, each gamma of `space.gammas` trains with a warm-up of half
     the epochs; the best of them and of gamma 0 wins.

  Args:
    data: the interactions; only its train split is read.
    model_config, train_config: everything not searched.
    space: what is tried.
    seed: the seed of every run.
    log: called with a line of progress, e.g. `print`.

  Returns:
    `(model_config, train_config, record)`: the configs with the chosen
    values, and what was tried with its validation scores.
  """
  say = log or (lambda line: None)
  validation = validation_split(data, space.validation_fraction)
  k = min(VALIDATION_K, data.num_items)
  record: Dict[str, Any] = {"validation_fraction": space.validation_fraction,
                            "seed": seed, "score": f"sqrt(recall@{k} * "
                            "ndcg@10) on validation", "epochs_curves": {},
                            "gamma": []}
  best: Tuple[float, float, int] = (-1.0, 0.0, space.min_epochs)
  for fraction in space.list_holdout_fractions:
    rows = _run(validation, dataclasses.replace(model_config, gamma=0.0),
                dataclasses.replace(train_config, epochs=space.max_epochs,
                                    distillation_warmup_epochs=0,
                                    list_holdout_fraction=fraction), k, seed)
    record["epochs_curves"][f"{fraction:g}"] = rows
    for row in rows[space.min_epochs - 1:]:
      if row["quality"] > best[0]:
        best = (row["quality"], fraction, row["epoch"])
    say(f"  validation, list_holdout_fraction {fraction:g}: quality by epoch "
        + " ".join(f"{r['quality']:.4f}" for r in rows))
  base_quality, fraction, epochs = best
  warmup = epochs // 2
  base_row = record["epochs_curves"][f"{fraction:g}"][epochs - 1]
  record["gamma"].append({"gamma": 0.0, **{k2: v for k2, v in base_row.items()
                                           if k2 != "epoch"}})
  choice = (base_quality, 0.0)
  for gamma in space.gammas:
    rows = _run(validation, dataclasses.replace(model_config, gamma=gamma),
                dataclasses.replace(train_config, epochs=epochs,
                                    distillation_warmup_epochs=warmup,
                                    list_holdout_fraction=fraction), k, seed)
    final = {k2: v for k2, v in rows[-1].items() if k2 != "epoch"}
    record["gamma"].append({"gamma": float(gamma), **final})
    say(f"  validation, gamma {gamma:g}: quality {final['quality']:.4f}, "
        f"irretrievable@{k} {final[f'irretrievable@{k}']:.4f}")
    if final["quality"] > choice[0]:
      choice = (final["quality"], float(gamma))
  gamma = choice[1]
  chosen_train = dataclasses.replace(
      train_config, epochs=epochs, list_holdout_fraction=fraction,
      distillation_warmup_epochs=warmup if gamma else 0)
  chosen_model = dataclasses.replace(model_config, gamma=gamma)
  record["chosen"] = {"epochs": epochs, "list_holdout_fraction": fraction,
                      "gamma": gamma,
                      "distillation_warmup_epochs":
                          chosen_train.distillation_warmup_epochs,
                      "history_length": model_config.history_length}
  say(f"  chosen: {record['chosen']}")
  return chosen_model, chosen_train, record

