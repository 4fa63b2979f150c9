"""The decoupled baseline: an L1 two-tower model, then an L2 re-ranker.

Same towers, transformer, data, lists and seeds as LT-TTD, but trained apart,
as a classic cascade is: first the towers with the retrieval loss alone, then,
towers frozen, the transformer with the listwise loss alone on lists whose
hard negatives come from L1's own top-K. No distillation.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.models.ltttd import LTTTDModel
from tfrs_ltttd.tasks.ltttd import LTTTDTask
from tfrs_ltttd.training import loop
from tfrs_ltttd.training.config import TrainConfig


def _stage_task(task: LTTTDTask, alpha: float, beta: float) -> LTTTDTask:
  return LTTTDTask.from_config({**task.get_config(), "alpha": alpha,
                                "beta": beta, "gamma": 0.0,
                                "reverse_weight": 0.0})


def train_cascade(
    data: Interactions,
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
    verbose: int = 1,
) -> tuple[LTTTDModel, Dict[str, Dict[str, List[float]]]]:
  """Trains the two stages one after the other: the towers for
  `train_config.epochs`, then the re-ranker for `train_config.rerank_epochs`
  (0: as many).

  Args:
    data: the interactions.
    model_config: the architecture (its loss weights are overridden per
      stage).
    train_config: lists, batch size, learning rate and epochs of each
      stage.
    callbacks: Keras callbacks for both stages.
    verbose: Keras verbosity.

  Returns:
    `(model, {"l1": history, "l2": history})`; the model serves like an
    `LTTTDModel`.
  """
  model = LTTTDModel.from_data(data, model_config)

  # L1: towers alone, retrieval loss alone (the lists are built but unused).
  model.task = _stage_task(model.task, alpha=1.0, beta=0.0)
  model.transformer.trainable = False
  model.compile(optimizer=tf.keras.optimizers.Adam(
      train_config.learning_rate))
  l1 = loop.fit(model, data, dataclasses.replace(
      train_config, num_hard_negatives=0), callbacks, verbose)

  # L2: towers frozen, transformer alone on L1's candidate lists.
  l2 = train_reranker(model, data, train_config,
                      train_config.rerank_epochs or train_config.epochs,
                      callbacks, verbose)
  return model, {"l1": l1, "l2": l2}


def train_reranker(
    model: LTTTDModel,
    data: Interactions,
    train_config: TrainConfig,
    epochs: int,
    callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
    verbose: int = 1,
) -> Dict[str, List[float]]:
  """Trains `model`'s re-ranker alone, its towers frozen, for `epochs`
  on lists whose hard negatives come from those towers from the first epoch
  on (the listwise loss alone: no retrieval loss, no distillation). The
  cascade's second stage, and LT-TTD's closing one
  (`TrainConfig.closing_epochs`). The model is left in that stage's state:
  towers not trainable, the task's weights `alpha = gamma = 0`, `beta = 1`.

  Args:
    model: an `LTTTDModel` whose towers are trained.
    data: the interactions.
    train_config: lists, batch sizes and learning rate (a fresh Adam).
    epochs: passes over the lists.
    callbacks: Keras callbacks.
    verbose: Keras verbosity.

  Returns:
    The stage's history (`tfrs_ltttd.training.fit`).
  """
  model.task = _stage_task(model.task, alpha=0.0, beta=1.0)
  model.transformer.trainable = True
  model.query_tower.trainable = False
  model.item_tower.trainable = False
  model.compile(optimizer=tf.keras.optimizers.Adam(train_config.learning_rate))
  return loop.fit(model, data, dataclasses.replace(train_config, epochs=epochs),
                  callbacks, verbose, hard_negatives_from_start=True)
