"""Keras callbacks of the training loop."""

from __future__ import annotations

import tensorflow as tf


class RunProgbar(tf.keras.callbacks.ProgbarLogger):
  """Keras's progress bar, numbering epochs across the one-epoch `fit` calls
  (Keras alone would print "Epoch 3/3" for the third of eight)."""

  def __init__(self, total_epochs: int):
    super().__init__(count_mode="steps")
    self._total_epochs = total_epochs

  def set_params(self, params):
    super().set_params(params)
    self.epochs = self._total_epochs


class OneRun(tf.keras.callbacks.Callback):
  """Gives `callbacks` one training run over many one-epoch `model.fit`
  calls.

  `tfrs_ltttd.training.fit` calls `model.fit` once per epoch, and Keras calls
  `on_train_begin` and `on_train_end` at every call; callbacks that keep
  state over a run reset it there (`EarlyStopping`'s best value and
  patience, `ReduceLROnPlateau`'s wait), so they would never act. Passed to
  each call, this callback forwards the epoch and batch hooks to
  `callbacks`, `on_train_begin` at the first call only, and `on_train_end`
  when `end` is called, after the last.

  Args:
    callbacks: Keras callbacks.
  """

  def __init__(self, callbacks):
    super().__init__()
    self.callbacks = list(callbacks)
    self._begun = False
    # Batch hooks only when a callback has them: Keras skips the per-batch
    # calls (and their host syncs) for callbacks that keep the defaults.
    if any(getattr(c, "_implements_train_batch_hooks", lambda: True)()
           for c in self.callbacks):
      self.on_train_batch_begin = self._batch_begin
      self.on_train_batch_end = self._batch_end

  def set_model(self, model):
    super().set_model(model)
    for callback in self.callbacks:
      callback.set_model(model)

  def set_params(self, params):
    super().set_params(params)
    for callback in self.callbacks:
      callback.set_params(params)

  def on_train_begin(self, logs=None):
    if not self._begun:
      self._begun = True
      for callback in self.callbacks:
        callback.on_train_begin(logs)

  def end(self, logs=None) -> None:
    """Ends the run: `on_train_end` of every callback, once."""
    if self._begun:
      self._begun = False
      for callback in self.callbacks:
        callback.on_train_end(logs)

  def on_epoch_begin(self, epoch, logs=None):
    for callback in self.callbacks:
      callback.on_epoch_begin(epoch, logs)

  def on_epoch_end(self, epoch, logs=None):
    for callback in self.callbacks:
      callback.on_epoch_end(epoch, logs)

  def _batch_begin(self, batch, logs=None):
    for callback in self.callbacks:
      callback.on_train_batch_begin(batch, logs)

  def _batch_end(self, batch, logs=None):
    for callback in self.callbacks:
      callback.on_train_batch_end(batch, logs)
