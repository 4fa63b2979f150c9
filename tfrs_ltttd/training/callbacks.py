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
