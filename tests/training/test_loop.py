"""`tfrs_ltttd.training.fit` as one Keras run over per-epoch `model.fit` calls."""

import dataclasses

import numpy as np
import tensorflow as tf

from tests._references import SMALL_MODEL, SMALL_TRAIN
from tfrs_ltttd import LTTTDModel, training
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.lists import build, datasets
from tfrs_ltttd.training import loop
from tfrs_ltttd.training.callbacks import OneRun


class _StopAfter(tf.keras.callbacks.Callback):

  def __init__(self, epoch):
    super().__init__()
    self.epoch, self.seen = epoch, []

  def on_epoch_end(self, epoch, logs=None):
    self.seen.append(epoch)
    if epoch == self.epoch:
      self.model.stop_training = True


def test_a_callback_that_stops_training_ends_the_run():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=150, num_items=60, interactions_per_user=8, seed=3))
  model = LTTTDModel.from_data(data, SMALL_MODEL)
  stop = _StopAfter(1)
  assert SMALL_TRAIN.epochs == 4
  history = training.fit(model, data, SMALL_TRAIN, callbacks=[stop],
                         verbose=0)
  assert stop.seen == [0, 1]
  assert len(history["loss"]) == len(history["epoch_seconds"]) == 2
  # The distillation weight is the model's own again, as after a full run.
  assert float(model.task.distillation_weight) == model.task.gamma


def test_the_towers_alone_train_on_the_pairs_they_would_see_beside_lists():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=150, num_items=60, interactions_per_user=8, seed=3))
  config = dataclasses.replace(SMALL_MODEL, beta=0.0, gamma=0.0)
  train = dataclasses.replace(SMALL_TRAIN, epochs=1, num_hard_negatives=0,
                              num_sampled_negatives=16)
  tf.keras.utils.set_random_seed(5)
  alone = LTTTDModel.from_data(data, config)
  pairs, built, sampler = loop.epoch_examples(alone, data, train, 0, False)
  assert built is None  # no lists are built for a model that scores none
  assert "lists" not in next(iter(datasets.make_joint_dataset(
      data, pairs, None, train.batch_size, train.list_batch_size,
      sampler=sampler)))
  training.fit(alone, data, train, verbose=0)
  # The same epoch on the pairs zipped with lists: the same towers.
  tf.keras.utils.set_random_seed(5)
  joint = LTTTDModel.from_data(data, config)
  lists = build.build_lists(data, train.list_size,
                            num_positives=train.num_positives, seed=0,
                            history_length=config.history_length)
  stream = datasets.make_joint_dataset(
      data, pairs, lists, train.batch_size, train.list_batch_size,
      num_in_batch_negatives=train.num_in_batch_negatives,
      seed=train.seed, sampler=sampler)
  joint(next(iter(stream))["lists"])
  joint.compile(optimizer=tf.keras.optimizers.Adam(train.learning_rate))
  joint.fit(stream, epochs=1, verbose=0)
  for tower in ("query_tower", "item_tower"):
    for want, got in zip(getattr(joint, tower).weights,
                         getattr(alone, tower).weights):
      np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)
  # ... and they did train: a fresh model of the same seed differs.
  tf.keras.utils.set_random_seed(5)
  fresh = LTTTDModel.from_data(data, config)
  fresh(next(iter(stream))["lists"])
  assert not np.allclose(fresh.item_tower.weights[0].numpy(),
                         alone.item_tower.weights[0].numpy())


class _Weights(tf.keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.by_epoch = []

  def on_epoch_end(self, epoch, logs=None):
    self.by_epoch.append([w.numpy() for w in self.model.trainable_weights])


def test_keras_early_stopping_sees_one_run_and_restores_the_best_epoch():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=150, num_items=60, interactions_per_user=8, seed=3))
  model = LTTTDModel.from_data(data, SMALL_MODEL)
  weights = _Weights()
  # No later epoch can beat the first (a gain of 1e9 is asked for), so the
  # run stops after the second and serves the first epoch's weights; one
  # model.fit call per epoch would reset the patience every epoch.
  stopping = tf.keras.callbacks.EarlyStopping(
      monitor="loss", mode="max", min_delta=1e9, patience=1,
      restore_best_weights=True)
  history = training.fit(model, data, SMALL_TRAIN,
                         callbacks=[weights, stopping], verbose=0)
  assert len(history["loss"]) == 2 < SMALL_TRAIN.epochs
  assert stopping.stopped_epoch == 1
  assert not all(np.array_equal(a, b) for a, b in zip(*weights.by_epoch))
  for got, want in zip(model.trainable_weights, weights.by_epoch[0]):
    np.testing.assert_array_equal(got.numpy(), want)


def test_one_run_forwards_batch_hooks_only_to_callbacks_that_have_them():
  class Batches(tf.keras.callbacks.Callback):
    def __init__(self):
      super().__init__()
      self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
      self.seen += 1

  quiet = OneRun([tf.keras.callbacks.EarlyStopping()])
  assert not quiet._implements_train_batch_hooks()
  batches = Batches()
  run = OneRun([batches])
  assert run._implements_train_batch_hooks()
  run.on_train_batch_end(0)
  assert batches.seen == 1
