"""Two workers on localhost train together under MultiWorkerMirroredStrategy:
they end with identical weights, and their loss terms and weights match one
process on the same global batch (tolerance: 1e-4 relative on the logged
losses, 1e-5 absolute on the weights: float sums in another order)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfrs_ltttd.testing import free_ports  # pylint: disable=protected-access

WORKER = """
import json, os, sys
import numpy as np, tensorflow as tf
out = sys.argv[1]
tf.keras.utils.set_random_seed(5)
tf.config.experimental.enable_op_determinism()
strategy = (tf.distribute.MultiWorkerMirroredStrategy()
            if "TF_CONFIG" in os.environ else tf.distribute.get_strategy())
from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, training
from tfrs_ltttd.data import synthetic

data = synthetic.generate(synthetic.SyntheticConfig(
    num_users=120, num_items=90, interactions_per_user=8, seed=2))
config = TrainConfig(epochs=2, batch_size=32, list_batch_size=32,
                     list_size=10, num_positives=2,
                     num_hard_negatives=3, hard_negative_depth=20,
                     hard_negative_skip=2, num_in_batch_negatives=2, seed=5)
with strategy.scope():
  model = LTTTDModel.from_data(data, ModelConfig(
      output_dim=8, embedding_dim=8, num_layers=1, num_heads=2, width=8,
      dropout=0.0))
  model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
history = training.fit(model, data, config, verbose=0)
np.savez(out + ".npz", **{w.name.replace("/", "."): w.numpy()
                         for w in model.weights})
with open(out + ".json", "w") as f:
  json.dump({k: v for k, v in history.items() if k.endswith("_loss")}, f)
"""


def _weights(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


# Softmax-based losses are invariant to these (a shift of every score, of
# every attention logit, of every history-pooling logit): their true
# gradient is 0, the computed one float noise that Adam scales up to
# learning-rate-sized steps in either run.
SHIFT_INVARIANT = ("head_out.bias", "attention.key.bias", "pool_logits.bias")


@pytest.mark.slow
def test_two_workers_match_one_process(tmp_path):
  single = subprocess.run([sys.executable, "-c", WORKER,
                           str(tmp_path / "single")], capture_output=True,
                          text=True, timeout=300)
  assert single.returncode == 0, single.stderr[-3000:]

  cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
  workers = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    workers.append(subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path / f"worker{index}")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    for worker in workers:
      _, err = worker.communicate(timeout=300)
      assert worker.returncode == 0, err[-3000:]
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()

  w0, w1 = _weights(tmp_path / "worker0.npz"), _weights(
      tmp_path / "worker1.npz")
  single = _weights(tmp_path / "single.npz")
  assert set(w0) == set(w1) == set(single)
  for name in w0:
    np.testing.assert_array_equal(w0[name], w1[name], err_msg=name)
    if not any(part in name for part in SHIFT_INVARIANT):
      np.testing.assert_allclose(w0[name], single[name], atol=1e-5,
                                 err_msg=name)
  distributed = json.loads((tmp_path / "worker0.json").read_text())
  reference = json.loads((tmp_path / "single.json").read_text())
  assert set(distributed) == set(reference) >= {"retrieval_loss",
                                                "ranking_loss"}
  for key, values in reference.items():
    np.testing.assert_allclose(distributed[key], values, rtol=1e-4,
                               err_msg=key)
