"""What each `ltttd` command does (the parser is in `tfrs_ltttd.cli.main`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time

import tensorflow as tf

from tfrs_ltttd.cli import sources
from tfrs_ltttd.evaluation import baselines, protocol as evaluation
from tfrs_ltttd.experiments import compare, report, tuning
from tfrs_ltttd.models import LTTTDModel, ModelConfig
from tfrs_ltttd.serving import Recommender, custom_ops, export
from tfrs_ltttd.training import checkpoint, distribute, fit
from tfrs_ltttd.training.config import TrainConfig


def train_model(args: argparse.Namespace):
  """Trains LT-TTD on the data named on the command line."""
  tf.get_logger().setLevel("ERROR")
  # Settings are checked before any data is read or generated.
  model_config = ModelConfig(
      gamma=args.gamma, dropout=args.dropout,
      item_item_neighbours=args.item_item_neighbours,
      history_matches=args.history_matches)
  train_config = TrainConfig(
      epochs=args.epochs, seed=args.seed, batch_size=args.batch_size,
      list_batch_size=args.list_batch_size,
      num_sampled_negatives=getattr(args, "sampled_negatives", 0))
  source = sources.data_source(args)
  seed_everything(args.seed, args.deterministic)
  data = sources.load(source)
  check_depths(args, data.num_items)
  strategy = strategy_named(getattr(args, "strategy", "default"),
                            getattr(args, "shard_bytes", 0))
  with strategy.scope():
    model = LTTTDModel.from_data(data, model_config)
    model.compile(optimizer=tf.keras.optimizers.Adam(
        train_config.learning_rate))
  start = time.perf_counter()
  fit(model, data, train_config, verbose=verbosity(),
      backup_dir=getattr(args, "backup_dir", None),
      example_dir=getattr(args, "example_dir", None))
  args.train_seconds = time.perf_counter() - start
  if model.item_item is not None:
    model.item_item.set_served_weight(args.item_item_weight)
  return model, data, source, model_config


def seed_everything(seed: int, deterministic: bool = False) -> None:
  """Seeds Python, numpy and TensorFlow; with `deterministic`, TensorFlow's
  kernels too (`enable_op_determinism`), so that equal runs are bitwise
  equal."""
  tf.keras.utils.set_random_seed(seed)
  if deterministic:
    tf.config.experimental.enable_op_determinism()


def check_output(path: str, new: bool = False) -> None:
  """Refuses an `--output` that cannot be written, before any work: a file
  where a folder is wanted, a folder that exists when `new`, or no
  writable folder to create it in.

  Raises:
    ValueError: naming the flag, the path and what is wrong.
  """
  target = pathlib.Path(path)
  if new and target.exists():
    raise ValueError(f"--output {path} exists already; checkpoints are "
                     "never overwritten.")
  if target.exists() and not target.is_dir():
    raise ValueError(f"--output {path} is a file; it must be a folder.")
  existing = target
  while not existing.exists():
    existing = existing.parent
  if not existing.is_dir():
    raise ValueError(f"--output {path}: {existing} is a file, so no folder "
                     "can be made there.")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise ValueError(f"--output {path}: the folder {existing} is not "
                     "writable.")


def check_depths(args: argparse.Namespace, num_items: int) -> None:
  """Refuses result depths the catalogue cannot fill, before training."""
  depth = getattr(args, "k_retrieval", None)
  if depth is not None and depth > num_items:
    raise ValueError(f"--k-retrieval ({depth}) must be at most the "
                     f"catalogue size ({num_items}).")
  k = getattr(args, "k", None)
  if k is not None and k > min(args.num_candidates, num_items):
    raise ValueError(f"--k ({k}) must be at most --num-candidates "
                     f"({args.num_candidates}) and the catalogue size "
                     f"({num_items}).")


def verbosity() -> int:
  """Keras progress: a live bar on a terminal, one line per epoch in a log."""
  return 1 if sys.stdout.isatty() else 2


STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")


def strategy_named(name: str, shard_bytes: int = 0):
  """The `tf.distribute` strategy named on the command line.

  `multi_worker` and `parameter_server` read the cluster from the
  `TF_CONFIG` environment variable (see README.md, "Distributed training").
  """
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


def is_chief() -> bool:
  """True unless TF_CONFIG names this process a worker other than 0."""
  task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
  return task.get("type", "worker") in ("chief", "worker") and (
      task.get("type") == "chief" or task.get("index", 0) == 0)


def run_demo(args: argparse.Namespace) -> int:
  model, data, _, _ = train_model(args)
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
  gains = evaluation.lifts(ours)
  if model.item_item is None:
    print("Re-ranker lift over the towers' order (NDCG@10): "
          f"{gains['served']:+.1%}")
  else:
    print("Served list's lift over the towers' order (NDCG@10): "
          f"{gains['served']:+.1%}, of which the re-ranker's own (against the "
          f"towers' score plus {args.item_item_weight:g} x the item-item term "
          f"of the user's history alone): {gains['reranker']:+.1%}")
  return 0


def run_train(args: argparse.Namespace) -> int:
  if args.strategy == "parameter_server" and (
      distribute.cluster_role() in ("worker", "ps")):
    print(f"Running the {distribute.cluster_role()} server of the "
          "parameter-server cluster in TF_CONFIG; stop it once the chief "
          "has finished.", flush=True)
    distribute.run_server()  # until the process is stopped
    return 0
  if not args.output:
    raise ValueError("--output is required: the checkpoint folder to write.")
  check_output(args.output, new=True)
  model, data, source, model_config = train_model(args)
  if not is_chief():  # in a cluster, worker 0 (or the chief) writes
    print("Not the chief: leaving the checkpoint to worker 0.")
    return 0
  path = checkpoint.save(model, source, model_config, args.output, data=data)
  print(f"Checkpoint written to {path}")
  return 0


def run_export(args: argparse.Namespace) -> int:
  check_output(args.output)
  check_depths(args, args.num_candidates)
  if args.checkpoint:
    if args.interactions:
      raise ValueError("--checkpoint reads the data it was trained on; "
                       "leave out --interactions.")
    model, data = checkpoint.load(args.checkpoint)
  else:
    print("No --checkpoint given: training first.")
    model, data, _, _ = train_model(args)
  recommender = Recommender(model, data.items, data.item_id_feature,
                            index=args.index,
                            num_candidates=args.num_candidates, k=args.k,
                            max_batch=args.max_batch)
  path = export(recommender, args.output, args.name, args.version)
  extra = sorted(custom_ops(path))
  print(f"SavedModel written to {path} (index: {args.index}, "
        f"K={recommender.num_candidates}, k={recommender.k}, larger "
        f"requests than {recommender.max_batch} queries in chunks).")
  print("Custom ops: " + (", ".join(extra) + " (needs a model server built "
                          "with ScaNN's ops)" if extra else
                          "none (loads in stock TensorFlow Serving)"))
  return 0


DATASETS = ("synthetic",) + sources.NAMED


def run_evaluate(args: argparse.Namespace) -> int:
  start = time.perf_counter()
  tf.get_logger().setLevel("ERROR")
  # Settings and the output folder are checked before any data is read.
  model_config = ModelConfig(
      gamma=args.gamma if args.gamma is not None else 0.0,
      temperature=args.temperature, dropout=args.dropout,
      history_length=(args.history_length if args.history_length is not None
                      else ModelConfig.history_length),
      item_item_neighbours=args.item_item_neighbours or 0,
      history_matches=args.history_matches)
  train_config = TrainConfig(
      epochs=args.epochs or 1, rerank_epochs=args.rerank_epochs or 0,
      closing_epochs=args.closing_epochs or 0,
      distillation_warmup_epochs=args.warmup_epochs
      or 0, list_holdout_fraction=args.list_holdout_fraction or 0.0,
      batch_size=args.batch_size, list_batch_size=args.list_batch_size)
  searched = [name for name in ("epochs", "gamma", "list_holdout_fraction",
                                "history_length")
              if getattr(args, name) is None]
  space = tuning.SearchSpace(
      max_epochs=args.max_epochs, trials=args.trials,
      min_epochs=min(tuning.SearchSpace.min_epochs, args.max_epochs),
      history_lengths=((args.history_length,)
                       if args.history_length is not None
                       else tuning.SearchSpace.history_lengths),
      list_holdout_fractions=((args.list_holdout_fraction,)
                              if args.list_holdout_fraction is not None
                              else tuning.SearchSpace.list_holdout_fractions),
      gammas=(() if args.gamma is not None else tuple(args.tune_gammas)))
  check_output(args.output)
  if args.deterministic:
    tf.config.experimental.enable_op_determinism()
  if args.interactions:
    if args.data != "synthetic" or args.path:
      raise ValueError("give either --interactions or --data/--path.")
    data = sources.load(sources.data_source(args))
    args.data = os.path.splitext(os.path.basename(args.interactions))[0]
  elif args.data == "synthetic":
    data = sources.load(sources.data_source(args))
  else:
    data = sources.describe(args.data, sources.named(args.data, args.path))
  if args.item_item_neighbours is None:
    # A table by default where its weight is chosen on validation.
    neighbours = tuning.default_item_item_neighbours(
        data.num_items, model_config.history_length) if searched else 0
    model_config = dataclasses.replace(model_config,
                                       item_item_neighbours=neighbours)
    if neighbours:
      why = f"{neighbours} neighbours per item, its weight chosen on validation"
    elif not searched:
      why = "none, no setting is chosen on validation"
    elif not model_config.history_length:
      why = "none, the towers read no history"
    else:
      why = (f"none, {data.num_items:,} items is more than the "
             f"{tuning.ITEM_ITEM_MAX_ITEMS:,} it is built for by default")
    print(f"Item-item table (--item-item-neighbours): {why}.")
  tuning_record = None
  if searched:
    print(f"Choosing {', '.join(searched + ['output_dim', 'sampled negatives'])}"
          " on a validation split cut from train (the test split is not "
          "read) ...")
    tuned_model, tuned_train, tuning_record = tuning.choose_settings(
        data, model_config, train_config, space, seed=args.seeds[0],
        log=print)
    # What the user fixed stays fixed.
    model_config = dataclasses.replace(
        tuned_model, gamma=(args.gamma if args.gamma is not None
                            else tuned_model.gamma))
    train_config = dataclasses.replace(
        tuned_train,
        epochs=args.epochs or tuned_train.epochs,
        rerank_epochs=args.rerank_epochs or tuned_train.rerank_epochs,
        closing_epochs=(args.closing_epochs if args.closing_epochs is not None
                        else tuned_train.closing_epochs),
        distillation_warmup_epochs=(
            args.warmup_epochs if args.warmup_epochs is not None
            else tuned_train.distillation_warmup_epochs))
  chosen = (tuning_record or {}).get("chosen", {})
  result = compare.compare(
      data, args.seeds, model_config, train_config, verbose=verbosity(),
      correction_weights=chosen.get("correction_weight"),
      item_item_weights=chosen.get("item_item_weight"))
  result["data"] = args.data
  if tuning_record:
    result["tuning"] = tuning_record
  if args.gammas:
    result["gamma_sweep"] = compare.gamma_sweep(
        data, args.gammas, args.seeds[0], model_config, train_config)
  result["wall_s"] = time.perf_counter() - start
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


def run_benchmark(args: argparse.Namespace) -> int:
  root = pathlib.Path(__file__).resolve().parents[2]
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
