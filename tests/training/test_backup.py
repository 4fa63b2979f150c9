"""A training run killed mid-epoch resumes from its backup and ends with the
same weights as an uninterrupted run of the same seed (dropout 0: Keras keeps
dropout RNG state out of checkpoints, see tfrs_ltttd.training.backup)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tfrs_ltttd.training import TrainingBackup

SCRIPT = """
import sys, time
import numpy as np, tensorflow as tf
tf.keras.utils.set_random_seed(3)
tf.config.experimental.enable_op_determinism()
from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, training
from tfrs_ltttd.data import synthetic

backup, out, marker, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
data = synthetic.generate(synthetic.SyntheticConfig(
    num_users=120, num_items=90, interactions_per_user=8, seed=1))
model = LTTTDModel.from_data(data, ModelConfig(
    output_dim=8, embedding_dim=8, num_layers=1, num_heads=2, width=8,
    dropout=0.0))
config = TrainConfig(epochs=3, batch_size=32, list_batch_size=32,
                     list_size=10, num_positives=2,
                     num_hard_negatives=3, hard_negative_depth=20,
                     hard_negative_skip=2, num_in_batch_negatives=2, seed=3)


class Pace(tf.keras.callbacks.Callback):
  # Slows the run down so that the test can kill it mid-epoch.
  steps = 0

  def on_train_batch_end(self, batch, logs=None):
    Pace.steps += 1
    if pause:
      if Pace.steps == 5:
        open(marker, "w").close()
      time.sleep(pause)


training.fit(model, data, config, verbose=0, backup_dir=backup or None,
             callbacks=[Pace()])
np.savez(out, *[w.numpy() for w in model.weights])
"""


def _run(tmp_path, backup, out, pause):
  return subprocess.Popen(
      [sys.executable, "-c", SCRIPT, backup, str(out),
       str(tmp_path / "marker"), str(pause)],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _weights(path):
  with np.load(path) as f:
    return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
  reference = _run(tmp_path, "", tmp_path / "reference.npz", 0)
  _, err = reference.communicate(timeout=300)
  assert reference.returncode == 0, err[-3000:]

  backup = tmp_path / "backup"
  victim = _run(tmp_path, str(backup), tmp_path / "never.npz", 0.3)
  deadline = time.time() + 240
  while not (tmp_path / "marker").exists():
    assert victim.poll() is None, victim.communicate()[1][-3000:]
    assert time.time() < deadline, "the run never reached step 5"
    time.sleep(0.05)
  os.kill(victim.pid, signal.SIGKILL)
  victim.wait(timeout=60)
  assert not (tmp_path / "never.npz").exists()
  assert (backup / "state" / "checkpoint").exists()

  resumed = _run(tmp_path, str(backup), tmp_path / "resumed.npz", 0)
  _, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err[-3000:]
  assert not backup.exists()  # cleared once the run completed
  want, got = _weights(tmp_path / "reference.npz"), _weights(
      tmp_path / "resumed.npz")
  assert len(want) == len(got)
  for a, b in zip(want, got):
    np.testing.assert_array_equal(a, b)


def test_backup_arguments_are_checked(tmp_path):
  class Uncompiled:
    optimizer = None

  with pytest.raises(ValueError, match="compile the model"):
    TrainingBackup(tmp_path, Uncompiled())
  with pytest.raises(ValueError, match="every_steps must be >= 1"):
    TrainingBackup(tmp_path, Uncompiled(), every_steps=0)
