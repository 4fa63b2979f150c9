"""Training throughput: LT-TTD against the decoupled cascade and plain TFRS.

Same synthetic data, towers, transformer, lists (length 50) and epochs:
- LT-TTD: `tfrs_ltttd.training.fit` (joint step: towers, lists, transformer,
  three losses), list building and hard-negative retrieval included;
- cascade: `train_cascade` (a two-tower fit, then a re-ranker fit on L1's
  lists; times added);
- plain TFRS: a `tfrs.Model` with `tfrs.tasks.Retrieval` on (user, item)
  pairs with the same towers, the floor.
Examples are the train interactions' lists (pairs for plain TFRS), counted
once per epoch; for the cascade, once per epoch of the whole two-stage run.
"""

from __future__ import annotations

import dataclasses
import time

import tensorflow as tf
import tensorflow_recommenders as tfrs

from benchmarks import common
from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, training
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.interactions import take
from tfrs_ltttd.training import train_cascade


class _TwoTower(tfrs.Model):
  """The plain TFRS way: two towers and the Retrieval task."""

  def __init__(self, query_tower, item_tower):
    super().__init__()
    self.query_tower, self.item_tower = query_tower, item_tower
    self.task = tfrs.tasks.Retrieval()

  def compute_loss(self, inputs, training=False):
    return self.task(self.query_tower(inputs["query"], training=training),
                     self.item_tower(inputs["item"], training=training),
                     compute_metrics=False)


def run(num_users: int, num_items: int, epochs: int, list_size: int,
        seed: int) -> dict:
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=num_users, num_items=num_items, seed=seed))
  model_config = ModelConfig()
  train_config = TrainConfig(epochs=epochs, list_size=list_size,
                             num_hard_negatives=list_size // 3,
                             hard_negative_depth=100,
                             num_in_batch_negatives=list_size // 6, seed=seed)
  relevant = int((data.train["label"] > 0).sum())
  examples = relevant * epochs
  result = {"machine": common.machine(), "epochs": epochs,
            "list_size": list_size, "num_lists_per_epoch": relevant,
            "batch_size": train_config.batch_size}

  tf.keras.utils.set_random_seed(seed)
  model = LTTTDModel.from_data(data, model_config)
  start = time.perf_counter()
  training.fit(model, data, train_config, verbose=0)
  ltttd_s = time.perf_counter() - start

  tf.keras.utils.set_random_seed(seed)
  _, stages = train_cascade(data, model_config, train_config, verbose=0)
  stage_times = [sum(stages[s]["epoch_seconds"]) for s in ("l1", "l2")]
  cascade_s = sum(stage_times)

  tf.keras.utils.set_random_seed(seed)
  base = LTTTDModel.from_data(data, dataclasses.replace(model_config,
                                                       history_length=0))
  plain = _TwoTower(base.query_tower, base.item_tower)
  plain.compile(optimizer=tf.keras.optimizers.Adam(train_config.learning_rate))
  keep = data.train["label"] > 0
  pairs = tf.data.Dataset.from_tensor_slices({
      "query": take(data.users, data.train["user"][keep]),
      "item": take(data.items, data.train["item"][keep])}).shuffle(
          relevant, seed=seed).batch(train_config.batch_size).prefetch(
              tf.data.AUTOTUNE)
  start = time.perf_counter()
  plain.fit(pairs, epochs=epochs, verbose=0)
  plain_s = time.perf_counter() - start

  result.update({
      "ltttd_seconds": ltttd_s, "cascade_seconds": cascade_s,
      "cascade_stage_seconds": {"l1": stage_times[0], "l2": stage_times[1]},
      "two_tower_seconds": plain_s,
      "ltttd_examples_per_s": examples / ltttd_s,
      "cascade_examples_per_s": examples / cascade_s,
      "two_tower_examples_per_s": examples / plain_s,
      "ltttd_over_cascade_time": ltttd_s / cascade_s,
  })
  return result


def main(argv=None) -> dict:
  args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
  if args.tiny:
    result = run(150, 200, 1, 20, args.seed)
  else:
    result = run(2000, 1000, 3, 50, args.seed)
  path = common.write_json(result, args.output, "training")
  print(f"training: LT-TTD {result['ltttd_examples_per_s']:.0f} lists/s, "
        f"cascade {result['cascade_examples_per_s']:.0f} lists/s (L1 "
        f"{result['cascade_stage_seconds']['l1']:.1f} s + L2 "
        f"{result['cascade_stage_seconds']['l2']:.1f} s), plain TFRS two-tower "
        f"{result['two_tower_examples_per_s']:.0f} pairs/s; LT-TTD takes "
        f"{result['ltttd_over_cascade_time']:.2f}x the cascade's time. "
        f"[{result['machine']['cores']} cores] -> {path}")
  return result


if __name__ == "__main__":
  main()
