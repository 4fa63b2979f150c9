"""The `ltttd` command line."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional


def _data_source(args: argparse.Namespace):
  """The data named on the command line: a `TableSource` for
  `--interactions`, else the synthetic generator's config."""
  from tfrs_ltttd.data import synthetic, tables  # pylint: disable=g-import-not-at-top

  if getattr(args, "interactions", None):
    columns, kinds = {}, {}
    for spec in args.column or []:
      key, sep, value = spec.partition("=")
      if not sep or not key or not value:
        raise ValueError(f"--column {spec!r}: expected ROLE=COLUMN (roles "
                         f"{', '.join(tables.COLUMNS)}) or COLUMN=KIND "
                         f"(kinds {', '.join(tables.KINDS)}).")
      if value in tables.KINDS:
        kinds[key] = value
      elif key in tables.COLUMNS:
        columns[key] = value
      else:
        raise ValueError(f"--column {spec!r}: '{key}' is not a role "
                         f"({', '.join(tables.COLUMNS)}) and '{value}' not a "
                         f"kind ({', '.join(tables.KINDS)}).")
    return tables.TableSource(
        interactions=os.path.abspath(args.interactions),
        users=args.users and os.path.abspath(args.users),
        items=args.items and os.path.abspath(args.items),
        columns=columns, kinds=kinds, separator=args.separator,
        relevant_rating=args.relevant_rating)
  if getattr(args, "users", None) or getattr(args, "items", None):
    raise ValueError("--users and --items describe the --interactions "
                     "file; give --interactions too.")
  return synthetic.SyntheticConfig(num_users=args.num_users,
                                   num_items=args.num_items,
                                   seed=getattr(args, "seed", 0))


def _load(source):
  """Reads or generates the data of `_data_source` and says what it is."""
  from tfrs_ltttd.data import synthetic  # pylint: disable=g-import-not-at-top

  if isinstance(source, synthetic.SyntheticConfig):
    data, what = synthetic.generate(source), "Synthetic data"
  else:
    data, what = source.load(), source.interactions
  return _describe(what, data)


def _describe(what: str, data):
  """Prints the size of `data` and returns it."""
  print(f"{what}: {data.num_users} users, {data.num_items} items, "
        f"{len(data.train['user'])} train / {len(data.test['user'])} test "
        "interactions.")
  return data


def _train_model(args: argparse.Namespace):
  """Trains LT-TTD on the data named on the command line."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from tfrs_ltttd import training  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.config import ModelConfig, TrainConfig  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.models import LTTTDModel  # pylint: disable=g-import-not-at-top

  tf.get_logger().setLevel("ERROR")
  # Settings are checked before any data is read or generated.
  model_config = ModelConfig(gamma=args.gamma)
  train_config = TrainConfig(
      epochs=args.epochs, seed=args.seed,
      num_sampled_negatives=getattr(args, "sampled_negatives", 0))
  source = _data_source(args)
  tf.keras.utils.set_random_seed(args.seed)
  data = _load(source)
  strategy = _strategy(getattr(args, "strategy", "default"),
                       getattr(args, "shard_bytes", 0))
  with strategy.scope():
    model = LTTTDModel.from_data(data, model_config)
    model.compile(optimizer=tf.keras.optimizers.Adam(
        train_config.learning_rate))
  start = time.perf_counter()
  training.fit(model, data, train_config, verbose=_verbosity(),
               backup_dir=getattr(args, "backup_dir", None),
               example_dir=getattr(args, "example_dir", None))
  args.train_seconds = time.perf_counter() - start
  return model, data, source, model_config


def _verbosity() -> int:
  """Keras progress: a live bar on a terminal, one line per epoch in a log."""
  return 1 if sys.stdout.isatty() else 2


STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")


def _strategy(name: str, shard_bytes: int = 0):
  """The `tf.distribute` strategy named on the command line.

  `multi_worker` and `parameter_server` read the cluster from the
  `TF_CONFIG` environment variable (see README.md, "Distributed training").
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from tfrs_ltttd import distribute  # pylint: disable=g-import-not-at-top

  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy multi_worker needs the TF_CONFIG "
                       "environment variable describing the cluster.")
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "parameter_server":
    return distribute.parameter_server_strategy(shard_bytes)
  raise ValueError(f"--strategy must be one of {STRATEGIES}, got '{name}'.")


def _is_chief() -> bool:
  """True unless TF_CONFIG names this process a worker other than 0."""
  import json  # pylint: disable=g-import-not-at-top

  task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
  return task.get("type", "worker") in ("chief", "worker") and (
      task.get("type") == "chief" or task.get("index", 0) == 0)


def _demo(args: argparse.Namespace) -> int:
  from tfrs_ltttd import baselines, evaluation  # pylint: disable=g-import-not-at-top

  model, data, _, _ = _train_model(args)
  k = args.k_retrieval
  ours = evaluation.evaluate(model, data, k_retrieval=k)
  chance = evaluation.random_baseline(data, k_retrieval=k, seed=args.seed)
  others = baselines.run_baselines(data, k_retrieval=k)
  towers = {f"recall@{k}": ours[f"recall@{k}"],
            "ndcg@10": ours["ndcg@10_two_tower"], "mrr": ours["mrr_two_tower"]}
  columns = [("LT-TTD", ours), ("towers", towers), ("EASE", others["ease"]),
             ("popular", others["popularity"]), ("random", chance)]
  rows = [(f"recall@{k} (retrieval)", f"recall@{k}"),
          ("NDCG@10", "ndcg@10"), ("MRR", "mrr")]
  print(f"\nHeld-out evaluation ({args.epochs} epochs, "
        f"{args.train_seconds:.0f} s training). LT-TTD = the towers' top "
        f"{k} re-ranked by the transformer; towers = the same {k} in the "
        f"towers' own order; EASE lambda {others['ease']['l2']:g} chosen on "
        "a validation split:")
  print(f"| {'metric':<24} | " + " | ".join(f"{c:>7}" for c, _ in columns)
        + " |")
  print(f"|{'-' * 26}|" + "|".join("-" * 9 for _ in columns) + "|")
  for label, key in rows:
    print(f"| {label:<24} | " + " | ".join(
        f"{values[key]:7.4f}" if key in values else f"{'':>7}"
        for _, values in columns) + " |")
  gain = ours["ndcg@10"] / max(ours["ndcg@10_two_tower"], 1e-12) - 1
  print(f"Re-ranker lift over the towers' order (NDCG@10): {gain:+.1%}")
  return 0


def _train(args: argparse.Namespace) -> int:
  from tfrs_ltttd import checkpoint, distribute  # pylint: disable=g-import-not-at-top

  if args.strategy == "parameter_server" and (
      distribute.cluster_role() in ("worker", "ps")):
    print(f"Running the {distribute.cluster_role()} server of the "
          "parameter-server cluster in TF_CONFIG; stop it once the chief "
          "has finished.", flush=True)
    distribute.run_server()  # until the process is stopped
    return 0
  if not args.output:
    raise ValueError("--output is required: the checkpoint folder to write.")
  if os.path.exists(args.output):
    raise ValueError(f"--output {args.output} exists already; checkpoints "
                     "are never overwritten.")
  model, _, source, model_config = _train_model(args)
  if not _is_chief():  # in a cluster, worker 0 (or the chief) writes
    print("Not the chief: leaving the checkpoint to worker 0.")
    return 0
  path = checkpoint.save(model, source, model_config, args.output)
  print(f"Checkpoint written to {path}")
  return 0


def _export(args: argparse.Namespace) -> int:
  from tfrs_ltttd import checkpoint  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.serving import Recommender, custom_ops, export  # pylint: disable=g-import-not-at-top

  if os.path.exists(args.output) and not os.path.isdir(args.output):
    raise ValueError(f"--output {args.output} is a file; it must be a "
                     "folder (new or holding earlier exports).")
  if args.checkpoint:
    if args.interactions:
      raise ValueError("--checkpoint reads the data it was trained on; "
                       "leave out --interactions.")
    model, data = checkpoint.load(args.checkpoint)
  else:
    print("No --checkpoint given: training first.")
    model, data, _, _ = _train_model(args)
  recommender = Recommender(model, data.items, data.item_id_feature,
                            index=args.index,
                            num_candidates=args.num_candidates, k=args.k)
  path = export(recommender, args.output, args.name, args.version)
  extra = sorted(custom_ops(path))
  print(f"SavedModel written to {path} (index: {args.index}, "
        f"K={recommender.num_candidates}, k={recommender.k}).")
  print("Custom ops: " + (", ".join(extra) + " (needs a model server built "
                          "with ScaNN's ops)" if extra else
                          "none (loads in stock TensorFlow Serving)"))
  return 0


DATASETS = ("synthetic", "movielens-100k", "movielens-1m",
            "movielens-latest-small")


def _evaluate(args: argparse.Namespace) -> int:
  import dataclasses  # pylint: disable=g-import-not-at-top

  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from tfrs_ltttd import report, tuning  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.config import ModelConfig, TrainConfig  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.data import movielens  # pylint: disable=g-import-not-at-top

  tf.get_logger().setLevel("ERROR")
  model_config = ModelConfig(
      gamma=args.gamma if args.gamma is not None else 0.0,
      temperature=args.temperature, history_length=args.history_length)
  train_config = TrainConfig(
      epochs=args.epochs or 1, distillation_warmup_epochs=args.warmup_epochs
      or 0, list_holdout_fraction=args.list_holdout_fraction or 0.0)
  if args.interactions:
    if args.data != "synthetic" or args.path:
      raise ValueError("give either --interactions or --data/--path.")
    data = _load(_data_source(args))
    args.data = os.path.splitext(os.path.basename(args.interactions))[0]
  elif args.data == "synthetic":
    data = _load(_data_source(args))
  else:
    path = args.path or (movielens.default_path()
                         if args.data == "movielens-100k" else None)
    if path is None:
      raise ValueError(f"--path is required for --data {args.data}: the "
                       "folder holding its files (nothing is downloaded).")
    data = _describe(args.data,
                     movielens.load(path, args.data.split("-", 1)[1]))
  tuning_record = None
  searched = [name for name in ("epochs", "gamma", "list_holdout_fraction")
              if getattr(args, name) is None]
  if searched:
    space = tuning.SearchSpace(
        max_epochs=args.max_epochs,
        list_holdout_fractions=((args.list_holdout_fraction,)
                                if args.list_holdout_fraction is not None
                                else tuning.SearchSpace.list_holdout_fractions),
        gammas=(() if args.gamma is not None else tuple(args.tune_gammas)))
    print(f"Choosing {', '.join(searched)} on a validation split cut from "
          "train (the test split is not read) ...")
    tuned_model, tuned_train, tuning_record = tuning.choose_settings(
        data, model_config, train_config, space, seed=args.seeds[0],
        log=print)
    # What the user fixed stays fixed.
    model_config = dataclasses.replace(
        model_config, gamma=(args.gamma if args.gamma is not None
                             else tuned_model.gamma))
    train_config = dataclasses.replace(
        train_config,
        epochs=args.epochs or tuned_train.epochs,
        list_holdout_fraction=tuned_train.list_holdout_fraction,
        distillation_warmup_epochs=(
            args.warmup_epochs if args.warmup_epochs is not None
            else tuned_train.distillation_warmup_epochs))
  result = report.compare(data, args.seeds, model_config, train_config,
                          verbose=_verbosity())
  result["data"] = args.data
  if tuning_record:
    result["tuning"] = tuning_record
  if args.gammas:
    result["gamma_sweep"] = report.gamma_sweep(
        data, args.gammas, args.seeds[0], model_config, train_config)
  name = args.name or args.data
  title = f"LT-TTD vs decoupled cascade and baselines on {args.data}"
  print()
  print(report.markdown(result, title))
  for path in report.write_report(result, args.output, name, title):
    print(f"wrote {path}")
  return 0


BENCHMARKS = ("retrieval", "serving", "training", "scaling")
# Run with --only: negatives needs MovieLens 100K, cluster starts processes.
EXTRA_BENCHMARKS = ("negatives", "cluster")


def _benchmark(args: argparse.Namespace) -> int:
  import pathlib  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top

  root = pathlib.Path(__file__).resolve().parents[1]
  if not (root / "benchmarks" / "common.py").is_file():
    raise ValueError("the benchmarks live in the source checkout "
                     f"(benchmarks/ beside tfrs_ltttd/), not found at {root}.")
  for name in args.only or BENCHMARKS:
    command = [sys.executable, "-m", f"benchmarks.{name}", "--output",
               os.path.abspath(args.output)] + (["--tiny"] if args.tiny else [])
    print(f"$ {' '.join(command[1:])}", flush=True)
    if subprocess.run(command, cwd=root, check=False).returncode:
      return 1
  return 0


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
  group.add_argument("--relevant-rating", type=float, default=4.0,
                     help="ratings at or above it are relevant (default 4)")
  parser.add_argument("--num-users", type=int, default=2000,
                      help="synthetic data only")
  parser.add_argument("--num-items", type=int, default=1000,
                      help="synthetic data only")


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--epochs", type=int, default=3)
  _add_data_flags(parser)
  parser.add_argument("--gamma", type=float, default=1.0,
                      help="distillation strength")
  parser.add_argument("--seed", type=int, default=0)


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
  _add_training_flags(demo)
  demo.add_argument("--k-retrieval", type=int, default=100)
  demo.set_defaults(run=_demo)

  train = commands.add_parser(
      "train", help="train on the synthetic data or your own and save a "
      "checkpoint")
  train.add_argument("--output",
                     help="new checkpoint folder (never overwritten); "
                     "required but for the worker and ps tasks of a "
                     "parameter-server cluster")
  _add_training_flags(train)
  train.add_argument("--strategy", choices=STRATEGIES, default="default",
                     help="tf.distribute strategy; multi_worker and "
                     "parameter_server read TF_CONFIG (parameter_server: "
                     "workers and ps tasks run their server, the chief "
                     "trains)")
  train.add_argument("--shard-bytes", type=int, default=256 << 10,
                     help="parameter_server: smallest shard of a sharded "
                     "table (default 256 KiB; tables split over at most "
                     "one shard per ps task)")
  train.add_argument("--example-dir",
                     help="write each epoch's examples here as sharded "
                     "TFRecord files and train from them (bounded input "
                     "pipeline graphs; parameter_server workers read "
                     "their own files)")
  train.add_argument("--sampled-negatives", type=int, default=0,
                     help="catalogue-wide negatives per step for the "
                     "retrieval softmax, beside the in-batch ones "
                     "(log-Q corrected; advised under parameter_server)")
  train.add_argument("--backup-dir",
                     help="back up the training state here after every "
                     "step; rerun the same command to resume a killed run")
  train.set_defaults(run=_train)

  export = commands.add_parser(
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
  export.add_argument("--version", type=int,
                      help="default: one more than the largest present")
  export.add_argument("--num-candidates", type=int, default=200,
                      help="K, the retrieval depth")
  export.add_argument("--k", type=int, default=10, help="results returned")
  _add_training_flags(export)
  export.set_defaults(run=_export)

  evaluate = commands.add_parser(
      "evaluate", help="LT-TTD against the decoupled cascade, with a report",
      description="Trains LT-TTD and the decoupled cascade (same towers, "
      "transformer, data, budgets and seeds), prints a side-by-side table and "
      "writes it as JSON and Markdown with PNG plots.")
  evaluate.add_argument("--data", choices=DATASETS, default="synthetic")
  evaluate.add_argument("--path", help="folder of the MovieLens files "
                        "(for movielens-100k, default: $TFRS_LTTTD_MOVIELENS_"
                        "100K or ../shared/data/ml-100k)")
  evaluate.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  evaluate.add_argument("--epochs", type=int,
                        help="epochs (per stage for the cascade); default: "
                        "chosen on a validation split")
  evaluate.add_argument("--max-epochs", type=int, default=8,
                        help="the longest run tried when choosing epochs")
  evaluate.add_argument("--gamma", type=float,
                        help="LT-TTD's distillation strength; default: "
                        "chosen on a validation split from --tune-gammas")
  evaluate.add_argument("--tune-gammas", type=float, nargs="+",
                        default=[0.2, 1.0],
                        help="gammas tried on validation (0 always is)")
  evaluate.add_argument("--temperature", type=float, default=1.0,
                        help="distillation temperature T")
  evaluate.add_argument("--warmup-epochs", type=int,
                        help="epochs before distillation starts; default: "
                        "half the epochs when distilling")
  evaluate.add_argument("--list-holdout-fraction", type=float,
                        help="latest share of each user's train that anchors "
                        "the lists (not retrieval positives); default: "
                        "chosen on validation from 0 and 0.2")
  evaluate.add_argument("--history-length", type=int, default=50,
                        help="H, the history read (0: none)")
  evaluate.add_argument("--gammas", type=float, nargs="*", default=[],
                        help="also sweep these distillation strengths on "
                        "the test split (reported, never used to choose)")
  _add_data_flags(evaluate)
  evaluate.add_argument("--output", default="benchmarks/results")
  evaluate.add_argument("--name", help="file name stem; default: --data")
  evaluate.set_defaults(run=_evaluate)

  bench = commands.add_parser(
      "benchmark", help="run the speed benchmarks (JSON in --output)",
      description="Runs benchmarks/{retrieval,serving,training,scaling}.py "
      "from the source checkout, each writing JSON (and scaling a PNG).")
  bench.add_argument("--only", nargs="+",
                     choices=BENCHMARKS + EXTRA_BENCHMARKS,
                     help="run these (default: the speed benchmarks; "
                     "negatives compares retrieval negatives on MovieLens "
                     "100K, cluster times a local parameter-server "
                     "cluster)")
  bench.add_argument("--tiny", action="store_true",
                     help="seconds-long runs on tiny sizes")
  bench.add_argument("--output", default="benchmarks/results")
  bench.set_defaults(run=_benchmark)
  args = parser.parse_args(argv)
  try:
    return args.run(args)
  except (ValueError, OSError) as error:
    # User errors (bad settings, files, folders) end in one line, no
    # traceback; everything else is a bug and keeps its traceback.
    print(f"ltttd {args.command}: error: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
