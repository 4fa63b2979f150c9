"""Resumable training: a backup of the whole training state in a folder.

`TrainingBackup` keeps the model, the optimizer, the epoch and the step
within the epoch (a `tf.train.CheckpointManager`, whose checkpoints are
complete before the `checkpoint` file points at them, so a kill during a save
leaves the previous backup intact), plus each epoch's hard-negative
candidates, which depend on the towers as they were when the epoch began.

Why not `tf.keras.callbacks.BackupAndRestore` alone: in Keras 2.15 it
restores the epoch and step counters but then replays the epoch's first
batches instead of the remaining ones, and it knows nothing of the lists the
loop rebuilds every epoch; a resumed run would train on other data than an
uninterrupted one. Here the epoch's dataset is rebuilt from its seed and the
consumed batches are skipped.

A resumed run ends bitwise equal to an uninterrupted one (tested) when the
seed is set and the kernels are deterministic:

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

and dropout is 0. With dropout > 0 it resumes from the same weights,
optimizer state and data position, but draws other dropout masks than the
uninterrupted run would have: Keras keeps the state of its layers' random
generators out of checkpoints by design (`BaseRandomLayer`).
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Callable, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd._io import atomic_path


class TrainingBackup:
  """The training state of one run, saved every `every_steps` steps.

  Args:
    directory: folder of the backup (created if missing).
    model: the compiled model being trained.
    every_steps: save after this many steps; 1 loses no finished step when
      the process is killed, larger values trade I/O for rework.
  """

  def __init__(self, directory: str | os.PathLike, model,
               every_steps: int = 1):
    if every_steps < 1:
      raise ValueError(f"every_steps must be >= 1, got {every_steps}.")
    if model.optimizer is None:
      raise ValueError("compile the model before creating its backup.")
    self.directory = pathlib.Path(directory)
    self.every_steps = every_steps
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self._checkpoint = tf.train.Checkpoint(
        model=model, optimizer=model.optimizer, epoch=self.epoch,
        step=self.step)
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, str(self.directory / "state"), max_to_keep=2)

  def restore(self) -> Tuple[int, int]:
    """Loads the latest backup, if any; returns `(epoch, step)` to resume at
    (`(0, 0)` for a fresh run)."""
    latest = self._manager.latest_checkpoint
    if latest is None:
      return 0, 0
    self._checkpoint.restore(latest)
    return int(self.epoch.numpy()), int(self.step.numpy())

  def save(self, epoch: int, step: int) -> None:
    self.epoch.assign(epoch)
    self.step.assign(step)
    self._manager.save()

  def hard_candidates(self, epoch: int,
                      compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The epoch's hard-negative candidates: loaded when saved, else computed
    and saved (atomically) before the epoch trains on them."""
    path = self.directory / f"hard_candidates_epoch{epoch}.npy"
    if path.exists():
      return np.load(path)
    value = compute()
    with atomic_path(path) as tmp:
      np.save(tmp, value)
    return value

  def callback(self, epoch: int, first_step: int) -> tf.keras.callbacks.Callback:
    """A Keras callback saving `(epoch, step)` every `every_steps` batches;
    `first_step` is the step the epoch resumed at."""
    backup = self

    class _Save(tf.keras.callbacks.Callback):

      def on_train_batch_end(self, batch, logs=None):
        step = first_step + batch + 1
        if step % backup.every_steps == 0:
          backup.save(epoch, step)

    return _Save()

  def clear(self) -> None:
    """Removes the backup once the run has finished."""
    shutil.rmtree(self.directory, ignore_errors=True)
