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

A backup knows its run: `fingerprint` (the training settings, the data's
fingerprint, the model's layers) is written beside the first state, and a
run with another fingerprint refuses the folder instead of resuming from it.
The two latest states are kept; a damaged latest one (truncated, bit-flipped:
TensorFlow checks every tensor's CRC32C) is passed over with a one-line
warning, and the run resumes from the previous intact one.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd._io import atomic_path

_LOG = logging.getLogger(__name__)
RUN_FILE = "run.json"


class TrainingBackup:
  """The training state of one run, saved every `every_steps` steps.

  Args:
    directory: folder of the backup (created if missing).
    model: the compiled model being trained.
    every_steps: save after this many steps; 1 loses no finished step when
      the process is killed, larger values trade I/O for rework.
    fingerprint: what identifies the run (JSON-serialisable); a backup
      written under another fingerprint is refused.
  """

  def __init__(self, directory: str | os.PathLike, model,
               every_steps: int = 1,
               fingerprint: Optional[Dict[str, Any]] = None):
    if every_steps < 1:
      raise ValueError(f"every_steps must be >= 1, got {every_steps}.")
    if model.optimizer is None:
      raise ValueError("compile the model before creating its backup.")
    self.directory = pathlib.Path(directory)
    self.every_steps = every_steps
    self.fingerprint = json.loads(json.dumps(fingerprint or {}))
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self._checkpoint = tf.train.Checkpoint(
        model=model, optimizer=model.optimizer, epoch=self.epoch,
        step=self.step)
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, str(self.directory / "state"), max_to_keep=2)

  def restore(self) -> Tuple[int, int]:
    """Loads the latest intact backup, if any; returns `(epoch, step)` to
    resume at (`(0, 0)` for a fresh run).

    Raises:
      ValueError: the folder holds a backup of another run (naming what
        differs), or no intact one.
    """
    states = self._manager.checkpoints
    if not states:
      return 0, 0
    self._check_run()
    problems = []
    for state in reversed(states):
      problem = _damage(state)
      if problem is None:
        if problems:
          _LOG.warning("%s", f"{problems[-1]}; resuming from the previous "
                       f"intact backup, {state}.")
        self._checkpoint.restore(state)
        return int(self.epoch.numpy()), int(self.step.numpy())
      problems.append(f"backup {state} is damaged ({problem})")
    raise ValueError(f"{self.directory}: no intact backup to resume from "
                     f"({'; '.join(problems)}); remove the folder to start "
                     "over.")

  def _check_run(self) -> None:
    path = self.directory / RUN_FILE
    try:
      saved = json.loads(path.read_text())
    except (OSError, ValueError):
      saved = None
    if saved == self.fingerprint:
      return
    if saved is None:
      raise ValueError(f"{path}: missing or unreadable, so the backup in "
                       f"{self.directory} cannot be matched to this run; "
                       "remove the folder to start over.")
    differs = sorted(k for k in set(saved) | set(self.fingerprint)
                     if saved.get(k) != self.fingerprint.get(k))
    raise ValueError(f"{self.directory}: the backup is of another run (its "
                     f"{', '.join(differs)} differ); rerun with the same "
                     "settings and data, or remove the folder to start "
                     "over.")

  def save(self, epoch: int, step: int) -> None:
    if not (self.directory / RUN_FILE).exists():
      with atomic_path(self.directory / RUN_FILE) as tmp:
        tmp.write_text(json.dumps(self.fingerprint, indent=2, sort_keys=True))
    self.epoch.assign(epoch)
    self.step.assign(step)
    self._manager.save()

  def hard_candidates(self, epoch: int,
                      compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The epoch's hard-negative candidates: loaded when saved, else computed
    and saved (atomically) before the epoch trains on them."""
    path = self.directory / f"hard_candidates_epoch{epoch}.npy"
    if path.exists():
      try:
        return np.load(path)
      except (OSError, ValueError, EOFError) as error:
        _LOG.warning("%s", f"{path} is damaged ({error}); computing it "
                     "again.")
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


def _damage(state: str) -> Optional[str]:
  """None if every tensor of the checkpoint `state` reads back (TensorFlow
  checks each one's CRC32C), else what is wrong, in one line."""
  try:
    reader = tf.train.load_checkpoint(state)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as error:
    # The reader's error for a short file is an IndexError.
    return " ".join(str(getattr(error, "message", error)).split())[:200]
  return None
