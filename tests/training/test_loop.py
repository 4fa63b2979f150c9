"""`tfrs_ltttd.training.fit` as one Keras run over per-epoch `model.fit` calls."""

import tensorflow as tf

from tests._references import SMALL_MODEL, SMALL_TRAIN
from tfrs_ltttd import LTTTDModel, training
from tfrs_ltttd.data import synthetic


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
