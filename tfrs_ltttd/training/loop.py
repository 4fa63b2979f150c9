"""Training: fresh lists every epoch, with hard negatives from the towers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.lists import build, datasets, records
from tfrs_ltttd.lists.negatives import NegativeSampler
from tfrs_ltttd.retrieval.topk import retrieve
from tfrs_ltttd.training.backup import TrainingBackup
from tfrs_ltttd.training.callbacks import OneRun, RunProgbar
from tfrs_ltttd.training.config import TrainConfig
from tfrs_ltttd.training.distribute import is_parameter_server


def hard_candidates(model, data: Interactions,
                    config: TrainConfig) -> np.ndarray:
  """`[num_users, depth - skip]` item rows from the current towers' top
  `hard_negative_depth` (train items excluded), the first
  `hard_negative_skip` dropped (the depth capped at the catalogue)."""
  _, rows = retrieve(model, data, np.arange(data.num_users),
                     min(config.hard_negative_depth,
                                    data.num_items))
  return rows[:, config.hard_negative_skip:]


def epoch_examples(model, data: Interactions, config: TrainConfig,
                   epoch: int, with_hard_negatives: bool,
                   hard: Optional[np.ndarray] = None):
  """The retrieval pairs, candidate lists and negative sampler of one epoch.

  With `with_hard_negatives`, hard negatives come from the current towers'
  top-`hard_negative_depth` (or from `hard`, when given), so that the
  re-ranker learns on lists that look like the ones retrieval serves it.
  A model that scores no lists (`model.task.needs_lists` False: the towers
  trained alone) gets none.

  Returns:
    `(pairs, lists, sampler)` for `lists.make_joint_dataset`.
  """
  num_hard = 0
  if with_hard_negatives and config.num_hard_negatives:
    if hard is None:
      hard = hard_candidates(model, data, config)
    num_hard = config.num_hard_negatives
  else:
    hard = None
  built = None if not model.task.needs_lists else build.build_lists(
      data, config.list_size, num_positives=config.num_positives,
      num_hard_negatives=num_hard, hard_candidates=hard,
      num_in_batch_negatives=config.num_in_batch_negatives,
      num_seen_negatives=config.num_seen_negatives,
      seed=config.seed + epoch,
      history_length=model.query_tower.history_length,
      list_holdout_fraction=config.list_holdout_fraction)
  pairs = build.build_pairs(
      data, history_length=model.query_tower.history_length,
      all_interactions=config.all_interactions,
      list_holdout_fraction=config.list_holdout_fraction)
  sampler = (NegativeSampler(data, config.num_sampled_negatives,
                             config.negative_sampling, config.seed + epoch)
             if config.num_sampled_negatives else None)
  return pairs, built, sampler


def epoch_dataset(model, data: Interactions, config: TrainConfig,
                  epoch: int, with_hard_negatives: bool,
                  hard: Optional[np.ndarray] = None) -> tf.data.Dataset:
  """The retrieval pairs and candidate lists of one epoch as one dataset
  (`epoch_examples`, then `lists.make_joint_dataset`)."""
  pairs, built, sampler = epoch_examples(model, data, config, epoch,
                                         with_hard_negatives, hard)
  return _joint(data, config, epoch, pairs, built, sampler)


def _joint(data, config, epoch, pairs, built, sampler, shard=None):
  return datasets.make_joint_dataset(
      data, pairs, built, config.batch_size, config.list_batch_size,
      num_in_batch_negatives=config.num_in_batch_negatives,
      seed=config.seed + epoch, sampler=sampler, shard=shard)


def _per_worker(data, config, epoch, pairs, built, sampler):
  """A `DatasetCreator` (each parameter-server worker its own shard of the
  pairs, in its own order) and the steps of one epoch."""
  num_pairs = (pairs.num_rows if isinstance(pairs, records.ExampleFiles)
               else len(pairs["user"]))

  def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
    return _joint(data, config, epoch, pairs, built, sampler, shard=(
        context.num_input_pipelines, context.input_pipeline_id))
  return (tf.keras.utils.experimental.DatasetCreator(dataset_fn),
          num_pairs // config.batch_size)


def _one_item_lists(pairs: Dict[str, Any]) -> Dict[str, Any]:
  """A batch of pairs as lists of their one positive (to build a model on
  a stream without lists)."""
  return {"query": pairs["query"],
          "candidates": tf.nest.map_structure(lambda t: t[:, None],
                                              pairs["item"])}


def run_fingerprint(model, data: Interactions,
                    config: TrainConfig) -> Dict[str, Any]:
  """What a resumable run is: its settings, its data's fingerprint and a
  hash of its layers' configs (auto-numbered layer names left out)."""
  def unnamed(value):
    if isinstance(value, dict):
      return {k: unnamed(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
      return [unnamed(v) for v in value]
    return value
  layers = [model.query_tower, model.item_tower, model.transformer,
            model.task]
  text = json.dumps(unnamed([layer.get_config() for layer in layers]),
                    sort_keys=True, default=str)
  return {"train_config": dataclasses.asdict(config),
          "data": data.fingerprint(),
          "model": hashlib.sha256(text.encode()).hexdigest()}


def fit(
    model,
    data: Interactions,
    config: TrainConfig = TrainConfig(),
    callbacks: Optional[Sequence[tf.keras.callbacks.Callback]] = None,
    verbose: int = 1,
    hard_negatives_from_start: bool = False,
    backup_dir: Optional[str] = None,
    backup_every_steps: int = 1,
    example_dir: Optional[str] = None,
    example_shards: int = 8,
) -> Dict[str, List[float]]:
  """Trains `model` (compiled here if it is not) for `config.epochs`.

  Each epoch is one `model.fit` call on freshly built lists, with
  `initial_epoch` set so that Keras callbacks (progress bar, TensorBoard,
  ModelCheckpoint) count epochs as one run; `callbacks` see one run
  (`on_train_begin` before the first epoch, `on_train_end` after the last:
  `callbacks.OneRun`), so that `EarlyStopping`, `restore_best_weights`
  included, and `ReduceLROnPlateau` act across epochs, and a callback that
  sets `model.stop_training` ends the run after that epoch. Hard negatives
  join the lists from the second epoch on, once the towers rank better than
  at random.
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
      the backup is removed when the run completes (`tfrs_ltttd.training.backup`).
    backup_every_steps: steps between backups (1: a killed run loses no
      finished step).
    example_dir: when given, each epoch's pairs and lists are written there
      as `example_shards` TFRecord files per stream (`epoch-N/`, removed
      after the epoch) and read back with tf.data, instead of being held in
      the input pipeline's graph (`tfrs_ltttd.lists.records`); under a
      parameter-server strategy each worker reads its own files.
    example_shards: files per stream and epoch.

  Under `tf.distribute.experimental.ParameterServerStrategy` (the model
  built in its scope, this process the chief) the coordinator builds each
  epoch's lists and hard negatives, and every worker reads its own shard of
  the pairs; an epoch is `len(pairs) // batch_size` steps spread over the
  workers, which step asynchronously (the retrieval softmax then sees one
  worker's batch: add `num_sampled_negatives`).

  Raises:
    ValueError: for `backup_dir` under a parameter-server strategy
      (asynchronous workers have no step to resume exactly at).

  Returns:
    The history: metric name -> one value per epoch, plus `epoch_seconds`,
    the wall time of each epoch (list building included).
  """
  parameter_server = is_parameter_server(model.distribute_strategy)
  if parameter_server and backup_dir:
    raise ValueError(
        "backup_dir: a step-exact resume does not exist under "
        "ParameterServerStrategy (workers step asynchronously); save "
        "checkpoints per epoch with a tf.keras.callbacks.ModelCheckpoint "
        "instead.")
  if model.optimizer is None:
    with model.distribute_strategy.scope():
      model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
  history: Dict[str, List[float]] = {}
  gamma = model.task.gamma
  backup = (TrainingBackup(backup_dir, model, backup_every_steps,
                           fingerprint=run_fingerprint(model, data, config))
            if backup_dir else None)
  first_epoch, first_step = backup.restore() if backup else (0, 0)
  run = OneRun(callbacks or [])
  for epoch in range(first_epoch, config.epochs):
    model.task.distillation_weight.assign(
        0.0 if epoch < config.distillation_warmup_epochs else gamma)
    start = time.perf_counter()
    with_hard = hard_negatives_from_start or epoch > 0
    hard = None
    if backup and with_hard and config.num_hard_negatives:
      hard = backup.hard_candidates(
          epoch, lambda: hard_candidates(model, data, config))
    examples = epoch_examples(model, data, config, epoch, with_hard, hard)
    folder = None
    if example_dir:
      folder = os.path.join(example_dir, f"epoch-{epoch}")
      shutil.rmtree(folder, ignore_errors=True)  # a killed run's leftovers
      examples = (*datasets.write_examples(folder, data, *examples[:2],
                                        num_shards=example_shards),
                  examples[2])
    local = _joint(data, config, epoch, *examples)
    if not model.transformer.weights:
      # Create every variable now, in cross-replica context: a
      # MultiWorkerMirroredStrategy cannot create them inside a step, and
      # under ParameterServerStrategy they are placed (sharded) now.
      with model.distribute_strategy.scope():
        first = next(iter(local))
        model(first["lists"] if "lists" in first else
              _one_item_lists(first))
    if isinstance(model.optimizer, tf.keras.optimizers.Optimizer):
      # The optimizer's slots too (a no-op once built): a step function that
      # creates variables on its first call is traced twice, which costs
      # seconds per run for this model.
      with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
    step = first_step if epoch == first_epoch else 0
    extra = [backup.callback(epoch, step)] if backup else []
    if parameter_server:
      inputs, steps = _per_worker(data, config, epoch, *examples)
    else:
      inputs, steps = local.skip(step), None
    result = model.fit(inputs, steps_per_epoch=steps,
                       initial_epoch=epoch, epochs=epoch + 1,
                       callbacks=[RunProgbar(config.epochs), *extra, run],
                       verbose=verbose)
    if folder:
      shutil.rmtree(folder)
    if backup:
      backup.save(epoch + 1, 0)
    for key, values in result.history.items():
      history.setdefault(key, []).extend(values)
    history.setdefault("epoch_seconds", []).append(time.perf_counter() - start)
    if model.stop_training:  # a callback (EarlyStopping, a pruner) said so
      break
  run.end()
  model.task.distillation_weight.assign(gamma)
  if backup:
    backup.clear()
  return history
