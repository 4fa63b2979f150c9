"""One process against a parameter-server cluster on localhost.

The same LT-TTD training (synthetic data, `training.fit`, sampled negatives,
examples from TFRecord files) runs in one process and under
`ParameterServerStrategy` with 2 workers and 2 parameter servers started on
this machine (`tfrs_ltttd.testing.local_cluster`), the chief in its own
process. Steps/s are timed over the epochs after the first (the first
traces the step); epoch times include the chief's list building and hard
negatives. On one 2-core machine the 5 processes share 2 cores, so this
measures the strategy's overhead, not a speed-up. The result goes into
`scaling.json` under "parameter_server".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from benchmarks import common
from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, distribute, testing
from tfrs_ltttd import training
from tfrs_ltttd import lists
from tfrs_ltttd.data import synthetic


def _settings(tiny: bool):
  if tiny:
    return (synthetic.SyntheticConfig(num_users=120, num_items=100,
                                      interactions_per_user=6),
            ModelConfig(output_dim=8, embedding_dim=8, hidden_units=(8,),
                        num_layers=1, num_heads=2, width=8, history_length=3),
            TrainConfig(epochs=2, batch_size=32, list_batch_size=16,
                        list_size=10, num_positives=2, num_hard_negatives=2,
                        hard_negative_depth=20, hard_negative_skip=2,
                        num_in_batch_negatives=2, num_sampled_negatives=8))
  return (synthetic.SyntheticConfig(num_users=2000, num_items=1000),
          ModelConfig(),
          TrainConfig(epochs=3, num_sampled_negatives=128))


def train(tiny: bool, parameter_server: bool, folder: str) -> dict:
  """Trains once; returns steps, steps/s after the first epoch and times."""
  data_config, model_config, train_config = _settings(tiny)
  data = synthetic.generate(data_config)
  tf.keras.utils.set_random_seed(0)
  strategy = (distribute.parameter_server_strategy() if parameter_server
              else tf.distribute.get_strategy())
  with strategy.scope():
    model = LTTTDModel.from_data(data, model_config)
    model.compile(optimizer=tf.keras.optimizers.Adam(
        train_config.learning_rate))
  history = training.fit(model, data, train_config, verbose=0,
                         example_dir=os.path.join(folder, "examples"))
  pairs = lists.build_pairs(
      data, history_length=model_config.history_length,
      all_interactions=train_config.all_interactions,
      list_holdout_fraction=train_config.list_holdout_fraction)
  steps = len(pairs["user"]) // train_config.batch_size
  later = history["epoch_seconds"][1:] or history["epoch_seconds"]
  return {"steps_per_epoch": steps, "epoch_seconds": history["epoch_seconds"],
          "steps_per_s": steps / float(np.mean(later)),
          "loss": history["loss"]}


def main(argv=None) -> dict:
  p = common.parser(__doc__.splitlines()[0])
  p.add_argument("--chief", metavar="JSON",
                 help="(internal) train as the cluster's chief, write here")
  args = p.parse_args(argv)
  if args.chief:
    with tempfile.TemporaryDirectory() as folder:
      result = train(args.tiny, True, folder)
    with open(args.chief, "w", encoding="utf-8") as f:
      json.dump(result, f)
    return result
  with tempfile.TemporaryDirectory() as folder:
    single = train(args.tiny, False, folder)
    with testing.local_cluster(2, 2, log_dir=folder) as cluster:
      out = os.path.join(folder, "chief.json")
      env = dict(os.environ, TF_CONFIG=distribute.tf_config(cluster, "chief"))
      command = [sys.executable, "-m", "benchmarks.cluster", "--chief", out]
      subprocess.run(command + (["--tiny"] if args.tiny else []), env=env,
                     check=True, timeout=3600)
      with open(out, encoding="utf-8") as f:
        cluster_run = json.load(f)
  result = {"one_process": single, "cluster_2_workers_2_ps": cluster_run,
            "cluster_over_one_process_steps_per_s":
                cluster_run["steps_per_s"] / single["steps_per_s"],
            "note": "5 processes on one 2-core machine: overhead, not "
                    "speed-up", "machine": common.machine()}
  path = os.path.join(args.output, "scaling.json")
  merged = {}
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      merged = json.load(f)
  merged["parameter_server"] = result
  common.write_json(merged, args.output, "scaling")
  print(f"cluster: one process {single['steps_per_s']:.1f} steps/s, 2 workers "
        f"+ 2 ps {cluster_run['steps_per_s']:.1f} steps/s "
        f"({result['cluster_over_one_process_steps_per_s']:.2f}x) -> {path}")
  return result


if __name__ == "__main__":
  main()
