"""Training: fresh lists every epoch, with hard negatives from the towers."""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfrs_ltttd import evaluation
from tfrs_ltttd.backup import TrainingBackup
from tfrs_ltttd.config import TrainConfig
from tfrs_ltttd.data import lists
from tfrs_ltttd.data.interactions import Interactions


def hard_candidates(model, data: Interactions,
                    config: TrainConfig) -> np.ndarray:
  """`[num_users, depth - skip]` item rows from the current towers' top
  `hard_negative_depth` (train items excluded), the first
  `hard_negative_skip` dropped (the depth capped at the catalogue)."""
  _, rows = evaluation.retrieve(model, data, np.arange(data.num_users),
                                min(config.hard_negative_depth,
                                    data.num_items))
  return rows[:, config.hard_negative_skip:]


def epoch_dataset(model, data: Interactions, config: TrainConfig,
                  epoch: int, with_hard_negatives: bool,
                  hard: Optional[np.ndarray] = None) -> tf.data.Dataset:
  """The retrieval pairs and candidate lists of one epoch.

  With `with_hard_negatives`, hard negatives come from the current towers'
  top-`hard_negative_depth` (or from `hard`, when given), so that the
  re-ranker learns on lists that look like the ones retrieval serves it.
  """
  num_hard = 0
  if with_hard_negatives and config.num_hard_negatives:
    if hard is None:
      hard = hard_candidates(model, data, config)
    num_hard = config.num_hard_negatives
  else:
    hard = None
  built = lists.build_lists(
      data, config.list_size, num_positives=config.num_positives,
      num_hard_negatives=num_hard, hard_candidates=hard,
      num_in_batch_negatives=config.num_in_batch_negatives,
      seed=config.seed + epoch,
      history_length=model.query_tower.history_length,
      list_holdout_fraction=config.list_holdout_fraction)
  pairs = lists.build_pairs(
      data, history_length=model.query_tower.history_length,
      all_interactions=config.all_interactions,
      list_holdout_fraction=config.list_holdout_fraction)
  return lists.make_joint_dataset(
      data, pairs, built, config.batch_size, config.list_batch_size,
      num_in_batch_negatives=config.num_in_batch_negatives,
      seed=config.seed + epoch)


class _RunProgbar(tf.keras.callbacks.ProgbarLogger):
  """Keras's progress bar, numbering epochs across the one-epoch `fit` calls
  (Keras alone would print "Epoch 3/3" for the third of eight)."""

  def __init__(self, total_epochs: int):
    super().__init__(count_mode="steps")
    self._total_epochs = total_epochs

  def set_params(self, params):
    super().set_params(params)
    self.epochs = self._total_epochs


def fit(
    model,
    data: Interactions,
    config: TrainConfig = TrainConfig(),
    callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
    verbose: int = 1,
    hard_negatives_from_start: bool = False,
    backup_dir: Optional[str] = None,
    backup_every_steps: int = 1,
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
    backup_dir: when given, the run is resumable: its state is backed up
      there every `backup_every_steps` steps, a run started on a folder
      holding a backup resumes where that one stopped (epoch and step), and
      the backup is removed when the run completes (`tfrs_ltttd.backup`).
    backup_every_steps: steps between backups (1: a killed run loses no
      finished step).

  Returns:
    The history: metric name -> one value per epoch, plus `epoch_seconds`,
    the wall time of each epoch (list building included).
  """
  if model.optimizer is None:
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
  history: Dict[str, List[float]] = {}
  gamma = model.task.gamma
  backup = (TrainingBackup(backup_dir, model, backup_every_steps)
            if backup_dir else None)
  first_epoch, first_step = backup.restore() if backup else (0, 0)
  for epoch in range(first_epoch, config.epochs):
    model.task.distillation_weight.assign(
        0.0 if epoch < config.distillation_warmup_epochs else gamma)
    start = time.perf_counter()
    with_hard = hard_negatives_from_start or epoch > 0
    hard = None
    if backup and with_hard and config.num_hard_negatives:
      hard = backup.hard_candidates(
          epoch, lambda: hard_candidates(model, data, config))
    lists = epoch_dataset(model, data, config, epoch, with_hard, hard)
    if not model.transformer.weights:
      # Create every variable now, in cross-replica context: a
      # MultiWorkerMirroredStrategy cannot create them inside a step.
      with model.distribute_strategy.scope():
        first = next(iter(lists))
        model(first.get("lists", first))
    step = first_step if epoch == first_epoch else 0
    extra = [backup.callback(epoch, step)] if backup else []
    result = model.fit(lists.skip(step),
                       initial_epoch=epoch, epochs=epoch + 1,
                       callbacks=[_RunProgbar(config.epochs), *extra,
                                  *(callbacks or [])], verbose=verbose)
    if backup:
      backup.save(epoch + 1, 0)
    for key, values in result.history.items():
      history.setdefault(key, []).extend(values)
    history.setdefault("epoch_seconds", []).append(time.perf_counter() - start)
  model.task.distillation_weight.assign(gamma)
  if backup:
    backup.clear()
  return history
