"""Training: fresh lists every epoch, with hard negatives from the towers."""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfrs_ltttd import evaluation
from tfrs_ltttd.config import TrainConfig
from tfrs_ltttd.data import lists
from tfrs_ltttd.data.interactions import Interactions


def epoch_dataset(model, data: Interactions, config: TrainConfig,
                  epoch: int, with_hard_negatives: bool) -> tf.data.Dataset:
  """The lists of one epoch.

  With `with_hard_negatives`, hard negatives come from the current towers'
  top-`hard_negative_depth` (train items excluded), so that the re-ranker
  learns on lists that look like the ones retrieval serves it.
  """
  hard, num_hard = None, 0
  if with_hard_negatives and config.num_hard_negatives:
    _, hard = evaluation.retrieve(model, data, np.arange(data.num_users),
                                  config.hard_negative_depth)
    hard, num_hard = hard[:, config.hard_negative_skip:], (
        config.num_hard_negatives)
  built = lists.build_lists(
      data, config.list_size, num_positives=config.num_positives,
      num_hard_negatives=num_hard, hard_candidates=hard,
      num_in_batch_negatives=config.num_in_batch_negatives,
      seed=config.seed + epoch)
  return lists.make_dataset(
      data, built, config.batch_size,
      num_in_batch_negatives=config.num_in_batch_negatives,
      seed=config.seed + epoch)


def fit(
    model,
    data: Interactions,
    config: TrainConfig = TrainConfig(),
    callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
    verbose: int = 1,
    hard_negatives_from_start: bool = False,
) -> Dict[str, List[float]]:
  """Trains `model` (compiled here if it is not) for `config.epochs`.

  Each epoch is one `model.fit` call on freshly built lists, with
  `initial_epoch` set so that Keras callbacks (progress bar, TensorBoard,
  ModelCheckpoint) count epochs as one run. Hard negatives join the lists
  from the second epoch on, once the towers rank better than at random.
  During the first `config.distillation_warmup_epochs` the distillation
  weight is held at 0.

  Args:
    model: an `LTTTDModel`.
    data: the interactions.
    config: the training settings.
    callbacks: Keras callbacks.
    verbose: Keras verbosity (1 = progress bar).
    hard_negatives_from_start: use hard negatives in the first epoch too
      (for towers that are trained already).

  Returns:
    The history: metric name -> one value per epoch, plus `epoch_seconds`,
    the wall time of each epoch (list building included).
  """
  if model.optimizer is None:
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
  history: Dict[str, List[float]] = {}
  gamma = model.task.gamma
  for epoch in range(config.epochs):
    model.task.distillation_weight.assign(
        0.0 if epoch < config.distillation_warmup_epochs else gamma)
    if verbose:
      print(f"Epoch {epoch + 1}/{config.epochs}")
    start = time.perf_counter()
    lists = epoch_dataset(model, data, config, epoch,
                          hard_negatives_from_start or epoch > 0)
    result = model.fit(lists,
                       initial_epoch=epoch, epochs=epoch + 1,
                       callbacks=list(callbacks or []), verbose=verbose)
    for key, values in result.history.items():
      history.setdefault(key, []).extend(values)
    history.setdefault("epoch_seconds", []).append(time.perf_counter() - start)
  model.task.distillation_weight.assign(gamma)
  return history
