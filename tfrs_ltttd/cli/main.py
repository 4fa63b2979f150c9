"""The `ltttd` command line: its parser and entry point."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from tfrs_ltttd.cli import commands
from tfrs_ltttd.data.synthetic import SyntheticConfig
from tfrs_ltttd.data.tables import TableSource
from tfrs_ltttd.experiments import tuning
from tfrs_ltttd.experiments.tuning import SearchSpace
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.settings import (NON_NEGATIVE, POSITIVE_INT, SEED, Range,
                                 range_of)
from tfrs_ltttd.training.config import TrainConfig


class _Parser(argparse.ArgumentParser):
  """Bad flags end in one line naming the flag, like every other error."""

  def error(self, message):
    self.exit(2, f"{self.prog}: error: {message} (see {self.prog} "
              "--help).\n")


def _number(accepted: Range):
  """An argparse `type` holding a flag to `accepted`, the range the setting
  behind it declares (`tfrs_ltttd.settings`)."""
  def parse(text: str):
    try:
      return accepted.parse(text)
    except ValueError as error:
      raise argparse.ArgumentTypeError(str(error)) from None
  parse.__name__ = accepted.describe()  # what argparse says it expected
  return parse


def _field(owner, name: str):
  """The argparse `type` of the flag that sets `owner.name`."""
  return _number(range_of(owner, name))


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group(
      "your own data (default: the embedded synthetic data)")
  group.add_argument("--interactions", metavar="FILE",
                     help="CSV or Parquet, one row per interaction; columns "
                     "user, item, timestamp and optionally rating or label")
  group.add_argument("--users", metavar="FILE",
                     help="optional user features: the user column + features")
  group.add_argument("--items", metavar="FILE",
                     help="optional item features: the item column + features")
  group.add_argument("--column", action="append", metavar="SPEC",
                     help="ROLE=COLUMN maps a role (user, item, timestamp, "
                     "rating, label) to a column; COLUMN=KIND declares a "
                     "feature categorical, numeric or multi; repeatable")
  group.add_argument("--separator", default="|",
                     help="separator of multi-valued features (default |)")
  group.add_argument("--relevant-rating", type=_field(TableSource,
                                                     "relevant_rating"),
                     default=4.0,
                     help="ratings at or above it are relevant (default 4)")
  parser.add_argument("--num-users", type=_field(SyntheticConfig,
                                                  "num_users"),
                      default=2000, help="synthetic data only")
  parser.add_argument("--num-items", type=_field(SyntheticConfig,
                                                  "num_items"),
                      default=1000, help="synthetic data only")


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
  """Settings a small data set or an exact comparison may need changed."""
  group = parser.add_argument_group("run settings")
  group.add_argument("--batch-size", type=_field(TrainConfig, "batch_size"),
                     default=TrainConfig.batch_size,
                     help="retrieval pairs per step (default %(default)s)")
  group.add_argument("--list-batch-size",
                     type=_field(TrainConfig, "list_batch_size"),
                     default=TrainConfig.list_batch_size,
                     help="candidate lists per step (default %(default)s)")
  group.add_argument("--dropout", type=_field(ModelConfig, "dropout"),
                     default=ModelConfig.dropout,
                     help="the re-ranker's dropout (default %(default)s)")
  group.add_argument("--no-history-matches", dest="history_matches",
                     action="store_false",
                     help="the re-ranker does not read which of the user's "
                     "past items share each categorical item feature "
                     "(brand, category, genres) with a candidate")
  group.add_argument("--deterministic", action="store_true",
                     help="deterministic TensorFlow kernels (slower): with "
                     "--dropout 0, a resumed run ends bitwise equal to an "
                     "uninterrupted one")


def _add_item_item_flag(parser: argparse.ArgumentParser, weight: str,
                        default: str = "%(default)s") -> None:
  parser.add_argument(
      "--item-item-neighbours",
      type=_field(ModelConfig, "item_item_neighbours"), default=0,
      help="keep each item's N strongest EASE neighbours in the model; the "
      "summed weights the user's history gives a candidate join the served "
      f"score with {weight} (0: none; default {default})")


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--epochs", type=_field(TrainConfig, "epochs"),
                      default=3)
  _add_data_flags(parser)
  _add_run_flags(parser)
  parser.add_argument("--gamma", type=_field(ModelConfig, "gamma"),
                      default=1.0, help="distillation strength")
  _add_item_item_flag(parser, "--item-item-weight")
  parser.add_argument(
      "--item-item-weight", type=_number(NON_NEGATIVE), default=0.5,
      help="weight of that term in the served score (ltttd evaluate "
      "chooses it on validation)")
  parser.add_argument("--seed", type=_field(TrainConfig, "seed"), default=0)


def main(argv: Optional[List[str]] = None) -> int:
  """Entry point of the `ltttd` console script."""
  parser = _Parser(
      prog="ltttd",
      description="LT-TTD: joint two-tower retrieval and listwise "
      "re-ranking with distillation.")
  subparsers = parser.add_subparsers(dest="command", required=True)
  demo = subparsers.add_parser(
      "demo", help="train on the embedded synthetic data and evaluate",
      description="Generates the synthetic data, trains LT-TTD and prints "
      "recall@K of retrieval and NDCG@10 of the final ranking on the "
      "held-out split, beside a random ranking.")
  _add_training_flags(demo)
  # The demo's second stage reads the item-item table too (0 turns it off).
  demo.set_defaults(item_item_neighbours=100)
  demo.add_argument("--k-retrieval", type=_number(POSITIVE_INT), default=100)
  demo.set_defaults(run=commands.run_demo)

  train = subparsers.add_parser(
      "train", help="train on the synthetic data or your own and save a "
      "checkpoint")
  train.add_argument("--output",
                     help="new checkpoint folder (never overwritten); "
                     "required but for the worker and ps tasks of a "
                     "parameter-server cluster")
  _add_training_flags(train)
  train.add_argument("--strategy", choices=commands.STRATEGIES, default="default",
                     help="tf.distribute strategy; multi_worker and "
                     "parameter_server read TF_CONFIG (parameter_server: "
                     "workers and ps tasks run their server, the chief "
                     "trains)")
  train.add_argument("--shard-bytes", type=_number(POSITIVE_INT),
                     default=256 << 10,
                     help="parameter_server: smallest shard of a sharded "
                     "table (default 256 KiB; tables split over at most "
                     "one shard per ps task)")
  train.add_argument("--example-dir",
                     help="write each epoch's examples here as sharded "
                     "TFRecord files and train from them (bounded input "
                     "pipeline graphs; parameter_server workers read "
                     "their own files)")
  train.add_argument("--sampled-negatives",
                     type=_field(TrainConfig, "num_sampled_negatives"),
                     default=0,
                     help="catalogue-wide negatives per step for the "
                     "retrieval softmax, beside the in-batch ones "
                     "(log-Q corrected; advised under parameter_server)")
  train.add_argument("--backup-dir",
                     help="back up the training state here after every "
                     "step; rerun the same command to resume a killed run")
  train.set_defaults(run=commands.run_train)

  export = subparsers.add_parser(
      "export", help="export a TF Serving SavedModel",
      formatter_class=argparse.RawDescriptionHelpFormatter,
      description="Writes OUTPUT/NAME/VERSION/, the layout TF Serving "
      "loads, with the signatures\n  serving_default (query features -> "
      "top-k item_ids, scores),\n  retrieve (query features -> top-K "
      "item_ids, two-tower scores),\n  rank (query features + "
      "candidate_ids -> scores, mask).\n\n--index bruteforce uses only "
      "built-in TensorFlow ops: it loads in the stock\ntensorflow_model_server. "
      "--index scann needs ScaNN's custom ops (Scann>...):\nserve it with a "
      "model server built with them (e.g. the google/tf-serving-scann\nimage), "
      "and `import scann` before tf.saved_model.load in Python.")
  export.add_argument("--output", required=True,
                      help="base folder; the export goes to OUTPUT/NAME/VERSION")
  export.add_argument("--index", choices=["bruteforce", "scann"],
                      default="bruteforce")
  export.add_argument("--checkpoint",
                      help="checkpoint from `ltttd train`; without it, "
                      "train on the synthetic data first")
  export.add_argument("--name", default="ltttd")
  export.add_argument("--version", type=_number(POSITIVE_INT),
                      help="default: one more than the largest present")
  export.add_argument("--num-candidates", type=_number(POSITIVE_INT),
                      default=200,
                      help="K, the retrieval depth")
  export.add_argument("--k", type=_number(POSITIVE_INT), default=10,
                      help="results returned")
  export.add_argument("--max-batch", type=_number(POSITIVE_INT), default=64,
                      help="the most queries computed at once; larger "
                      "requests are answered in chunks of this many (keep "
                      "the model server's max_batch_size at most this)")
  _add_training_flags(export)
  export.set_defaults(run=commands.run_export)

  evaluate = subparsers.add_parser(
      "evaluate", help="LT-TTD against the decoupled cascade, with a report",
      description="Trains LT-TTD and the decoupled cascade (same towers, "
      "transformer, data, budgets and seeds), prints a side-by-side table and "
      "writes it as JSON and Markdown with PNG plots.")
  evaluate.add_argument("--data", choices=commands.DATASETS, default="synthetic")
  evaluate.add_argument("--path", help="folder of the --data files "
                        "(default for movielens-100k: $TFRS_LTTTD_MOVIELENS_"
                        "100K or ../shared/data/ml-100k; for amazon-beauty: "
                        "$TFRS_LTTTD_AMAZON_BEAUTY or "
                        "../shared/data/amazon-beauty)")
  evaluate.add_argument("--seeds", type=_number(SEED), nargs="+",
                        default=[0, 1, 2])
  evaluate.add_argument("--epochs", type=_field(TrainConfig, "epochs"),
                        help="epochs (per stage for the cascade); default: "
                        "chosen on a validation split")
  evaluate.add_argument("--rerank-epochs",
                        type=_field(TrainConfig, "rerank_epochs"),
                        help="epochs of the cascade's re-ranker stage; "
                        "default: its best epoch on a validation split, up "
                        "to --max-epochs")
  evaluate.add_argument("--closing-epochs",
                        type=_field(TrainConfig, "closing_epochs"),
                        help="epochs of LT-TTD's closing stage, its re-ranker "
                        "alone on its final towers' lists (0: none); "
                        "default: its best epoch on a validation split, 0 "
                        "to --max-epochs")
  evaluate.add_argument("--max-epochs",
                        type=_field(SearchSpace, "max_epochs"), default=8,
                        help="the longest run tried when choosing epochs")
  evaluate.add_argument("--gamma", type=_field(ModelConfig, "gamma"),
                        help="LT-TTD's distillation strength; default: "
                        "chosen on a validation split from --tune-gammas")
  evaluate.add_argument("--tune-gammas", type=_field(SearchSpace, "gammas"),
                        nargs="+",
                        default=[0.2, 1.0],
                        help="gammas tried on validation (0 always is)")
  evaluate.add_argument("--temperature",
                        type=_field(ModelConfig, "temperature"), default=1.0,
                        help="distillation temperature T")
  evaluate.add_argument("--warmup-epochs",
                        type=_field(TrainConfig, "distillation_warmup_epochs"),
                        help="epochs before distillation starts; default: "
                        "half the epochs when distilling")
  _add_item_item_flag(
      evaluate, "a weight chosen on validation",
      f"{tuning.ITEM_ITEM_NEIGHBOURS} up to "
      f"{tuning.ITEM_ITEM_MAX_ITEMS:,} items, 0 above")
  evaluate.set_defaults(item_item_neighbours=None)
  evaluate.add_argument("--list-holdout-fraction",
                        type=_field(TrainConfig, "list_holdout_fraction"),
                        help="latest share of each user's train that anchors "
                        "the lists (not retrieval positives); default: "
                        "chosen on validation from 0 and 0.2")
  evaluate.add_argument("--history-length",
                        type=_field(ModelConfig, "history_length"),
                        help="H, the history read (0: none); default: chosen "
                        "on validation from 20, 50 and 200")
  evaluate.add_argument("--trials", type=_field(SearchSpace, "trials"),
                        default=SearchSpace.trials,
                        help="settings of the towers and lists tried on "
                        "validation (H, d, sampled negatives, list make-up; "
                        "default %(default)s)")
  evaluate.add_argument("--gammas", type=_field(ModelConfig, "gamma"),
                        nargs="*", default=[],
                        help="also sweep these distillation strengths on "
                        "the test split (reported, never used to choose)")
  _add_data_flags(evaluate)
  _add_run_flags(evaluate)
  evaluate.add_argument("--output", default="benchmarks/results")
  evaluate.add_argument("--name", help="file name stem; default: --data")
  evaluate.set_defaults(run=commands.run_evaluate)

  bench = subparsers.add_parser(
      "benchmark", help="run the speed benchmarks (JSON in --output)",
      description="Runs benchmarks/{retrieval,serving,training,scaling}.py "
      "from the source checkout, each writing JSON (and scaling a PNG).")
  bench.add_argument("--only", nargs="+",
                     choices=commands.BENCHMARKS + commands.EXTRA_BENCHMARKS,
                     help="run these (default: the speed benchmarks; "
                     "negatives compares retrieval negatives on MovieLens "
                     "100K, cluster times a local parameter-server "
                     "cluster)")
  bench.add_argument("--tiny", action="store_true",
                     help="seconds-long runs on tiny sizes")
  bench.add_argument("--output", default="benchmarks/results")
  bench.set_defaults(run=commands.run_benchmark)
  try:
    args = parser.parse_args(argv)
  except SystemExit as stop:  # a bad flag, said in one line already
    if stop.code:
      return stop.code
    raise  # --help
  try:
    return args.run(args)
  except (ValueError, OSError) as error:
    # User errors (bad settings, files, folders) end in one line, no
    # traceback; everything else is a bug and keeps its traceback.
    print(f"ltttd {args.command}: error: {error}", file=sys.stderr)
    return 2

