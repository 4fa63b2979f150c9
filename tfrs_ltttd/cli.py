"""The `ltttd` command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _demo(args: argparse.Namespace) -> int:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from tfrs_ltttd import evaluation, training  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.config import ModelConfig, TrainConfig  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.data import synthetic  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.models import LTTTDModel  # pylint: disable=g-import-not-at-top

  tf.get_logger().setLevel("ERROR")
  tf.keras.utils.set_random_seed(args.seed)
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=args.num_users, num_items=args.num_items, seed=args.seed))
  print(f"Synthetic data: {data.num_users} users, {data.num_items} items, "
        f"{len(data.train['user'])} train / {len(data.test['user'])} test "
        "interactions.")
  model = LTTTDModel.from_data(data, ModelConfig(gamma=args.gamma))
  start = time.perf_counter()
  training.fit(model, data, TrainConfig(epochs=args.epochs, seed=args.seed),
               verbose=1)
  seconds = time.perf_counter() - start
  k = args.k_retrieval
  ours = evaluation.evaluate(model, data, k_retrieval=k)
  chance = evaluation.random_baseline(data, k_retrieval=k, seed=args.seed)
  rows = [(f"recall@{k} (retrieval)", f"recall@{k}"),
          ("NDCG@10 (final ranking)", "ndcg@10"),
          ("MRR (final ranking)", "mrr"),
          ("NDCG@10 (two-tower order)", "ndcg@10_two_tower")]
  print(f"\nHeld-out evaluation ({args.epochs} epochs, {seconds:.0f} s "
        "training):")
  print(f"| {'metric':<26} | {'LT-TTD':>7} | {'random':>7} |")
  print(f"|{'-' * 28}|{'-' * 9}|{'-' * 9}|")
  for label, key in rows:
    base = f"{chance[key]:7.4f}" if key in chance else f"{'':>7}"
    print(f"| {label:<26} | {ours[key]:7.4f} | {base} |")
  return 0


def main(argv: Optional[List[str]] = None) -> int:
  """Entry point of the `ltttd` console script."""
  parser = argparse.ArgumentParser(
      prog="ltttd",
      description="LT-TTD: joint two-tower retrieval and listwise "
      "re-ranking with distillation.")
  commands = parser.add_subparsers(dest="command", required=True)
  demo = commands.add_parser(
      "demo", help="train on the embedded synthetic data and evaluate",
      description="Generates the synthetic data, trains LT-TTD and prints "
      "recall@K of retrieval and NDCG@10 of the final ranking on the "
      "held-out split, beside a random ranking.")
  demo.add_argument("--epochs", type=int, default=3)
  demo.add_argument("--num-users", type=int, default=2000)
  demo.add_argument("--num-items", type=int, default=1000)
  demo.add_argument("--gamma", type=float, default=1.0,
                    help="distillation strength")
  demo.add_argument("--k-retrieval", type=int, default=100)
  demo.add_argument("--seed", type=int, default=0)
  demo.set_defaults(run=_demo)
  args = parser.parse_args(argv)
  try:
    return args.run(args)
  except ValueError as error:
    print(f"ltttd {args.command}: error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
