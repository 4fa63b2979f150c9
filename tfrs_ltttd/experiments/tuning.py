"""Settings chosen per data set, on a validation split cut from train.

Nothing here looks at the test split: `choose_settings` cuts each user's
latest train interactions off as validation (`validation_split`), trains on
the rest and keeps what scores best there. The search is Optuna's
(arXiv 1907.10902): each trial trains one candidate setting of the towers and
the lists once, scored on validation after every epoch, so that its epoch
count is read off its own curve, and a successive-halving pruner stops the
trials that trail at an epoch where others were better. What it picks and
every score it saw are returned, so a report can print them. The defaults of
`ModelConfig` and `TrainConfig` are starting points, not settings tuned on any
data set.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import optuna
import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions, validation_split
from tfrs_ltttd.evaluation import protocol
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.models.ltttd import LTTTDModel
from tfrs_ltttd.settings import (NON_NEGATIVE, NON_NEGATIVE_INT, OPEN_SHARE,
                                 POSITIVE_INT, SHARE, check, setting)
from tfrs_ltttd.training import loop
from tfrs_ltttd.training.config import TrainConfig

VALIDATION_K = 100


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """What `choose_settings` tries.

  Attributes:
    max_epochs: the longest run; each trial's epoch count is read off its
      validation curve.
    min_epochs: the shortest epoch count considered, and the first epoch at
      which the pruner compares trials.
    trials: candidate settings trained (each at most `max_epochs`); when the
      grid below has fewer combinations, every one is tried once.
    history_lengths: H, the history the towers read, tried (a value at
      least the longest train history reads all of it).
    output_dims: d, the towers' embedding dimension, tried.
    sampled_negative_shares: catalogue-wide sampled negatives per step, as a
      share of `batch_size`, tried (`TrainConfig.num_sampled_negatives`).
    list_holdout_fractions: list make-ups tried (`TrainConfig`).
    gammas: distillation strengths tried at the chosen setting, each with a
      warm-up of half the epochs (0 is always in, from the first stage).
    validation_fraction: each user's latest share of train held out.
  """

  max_epochs: int = setting(8, POSITIVE_INT)
  min_epochs: int = setting(2, POSITIVE_INT)
  trials: int = setting(8, POSITIVE_INT)
  history_lengths: Tuple[int, ...] = setting((20, 50, 200), NON_NEGATIVE_INT)
  output_dims: Tuple[int, ...] = setting((32, 64), POSITIVE_INT)
  sampled_negative_shares: Tuple[float, ...] = setting((0.0, 1.0),
                                                       NON_NEGATIVE)
  list_holdout_fractions: Tuple[float, ...] = setting((0.0, 0.2), SHARE)
  gammas: Tuple[float, ...] = setting((0.2, 1.0), NON_NEGATIVE)
  validation_fraction: float = setting(0.1, OPEN_SHARE)

  def __post_init__(self):
    check(self)
    if not 1 <= self.min_epochs <= self.max_epochs:
      raise ValueError("SearchSpace needs 1 <= min_epochs <= max_epochs, got "
                       f"{self.min_epochs} and {self.max_epochs}.")
    for name in ("history_lengths", "output_dims", "sampled_negative_shares",
                 "list_holdout_fractions"):
      if not getattr(self, name):
        raise ValueError(f"SearchSpace.{name} is empty.")

  def grid(self) -> Dict[str, Tuple[Any, ...]]:
    """Setting name -> the values tried (duplicates dropped)."""
    return {"history_length": tuple(dict.fromkeys(self.history_lengths)),
            "output_dim": tuple(dict.fromkeys(self.output_dims)),
            "sampled_negative_share": tuple(dict.fromkeys(
                self.sampled_negative_shares)),
            "list_holdout_fraction": tuple(dict.fromkeys(
                self.list_holdout_fractions))}


def quality(metrics: Dict[str, float], k: int = VALIDATION_K) -> float:
  """The selection score: the geometric mean of retrieval recall@k and the
  final NDCG@10 (UPQE without its latency term), so that a setting cannot
  buy one stage's quality with the other's."""
  return float(np.sqrt(max(metrics[f"recall@{k}"], 0.0)
                       * max(metrics["ndcg@10"], 0.0)))


class _EpochScores(tf.keras.callbacks.Callback):
  """Validation metrics after every epoch of a `tfrs_ltttd.training.fit`
  run, reported to an Optuna trial, whose pruner may stop the run."""

  def __init__(self, data: Interactions, k: int,
               trial: Optional[optuna.Trial] = None):
    super().__init__()
    self.data, self.k, self.trial = data, k, trial
    self.rows, self.pruned = [], False

  def on_epoch_end(self, epoch, logs=None):
    metrics = protocol.evaluate(self.model, self.data, k_retrieval=self.k)
    self.rows.append({"epoch": epoch + 1, **metrics,
                      "quality": quality(metrics, self.k)})
    if self.trial is not None:
      self.trial.report(self.rows[-1]["quality"], epoch + 1)
      if self.trial.should_prune():
        self.pruned = True
        self.model.stop_training = True


def _run(data, model_config, train_config, k, seed, trial=None):
  tf.keras.utils.set_random_seed(seed)
  model = LTTTDModel.from_data(data, model_config)
  scores = _EpochScores(data, k, trial)
  loop.fit(model, data, train_config, callbacks=[scores], verbose=0)
  return scores


def _configs(params, model_config, train_config, longest):
  history = min(params["history_length"], longest)
  sampled = int(round(params["sampled_negative_share"]
                      * train_config.batch_size))
  return (dataclasses.replace(model_config, gamma=0.0,
                              history_length=history,
                              output_dim=params["output_dim"]),
          dataclasses.replace(train_config, distillation_warmup_epochs=0,
                              num_sampled_negatives=sampled,
                              list_holdout_fraction=params[
                                  "list_holdout_fraction"]))


def _minutes(seconds: float) -> str:
  return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def choose_settings(
    data: Interactions,
    model_config: ModelConfig = ModelConfig(),
    train_config: TrainConfig = TrainConfig(),
    space: SearchSpace = SearchSpace(),
    seed: int = 0,
    log: Optional[Callable[[str], Any]] = None,
) -> Tuple[ModelConfig, TrainConfig, Dict[str, Any]]:
  """Picks the towers' and lists' settings, the epochs and distillation for
  `data`, on validation.

  1. Up to `space.trials` settings of `space.grid()` (the one of the given
     configs first, then the others in an order drawn with `seed`, each at
     most once), LT-TTD without distillation, each trained for up to
     `max_epochs` and scored on validation after every epoch (`quality`).
     Optuna's `SuccessiveHalvingPruner` stops a trial whose score at epoch
     `min_epochs`, `2 min_epochs`, ... is below the best half of the trials
     that reached that epoch. The best (setting, epoch) wins.
  2. At those, each gamma of `space.gammas` trains with a warm-up of half
     the epochs; the best of them and of gamma 0 wins.

  A line after every trial says what it scored, the time spent and the time
  left if every remaining run went to `max_epochs` at the mean pace so far.

  Args:
    data: the interactions; only its train split is read.
    model_config, train_config: everything not searched.
    space: what is tried.
    seed: the seed of every run and of the order of the trials.
    log: called with a line of progress, e.g. `print`.

  Returns:
    `(model_config, train_config, record)`: the configs with the chosen
    values, and what was tried with its validation scores.
  """
  say = log or (lambda line: None)
  validation = validation_split(data, space.validation_fraction)
  k = min(VALIDATION_K, data.num_items)
  longest = int(np.max(np.bincount(validation.train["user"]), initial=1))
  grid = space.grid()
  combinations = [dict(zip(grid, values))
                  for values in itertools.product(*grid.values())]
  trials = min(space.trials, len(combinations))
  record: Dict[str, Any] = {
      "validation_fraction": space.validation_fraction, "seed": seed,
      "score": f"sqrt(recall@{k} * ndcg@10) on validation",
      "grid": {name: list(values) for name, values in grid.items()},
      "trials": [], "gamma": []}
  given = {"history_length": model_config.history_length,
           "output_dim": model_config.output_dim,
           "sampled_negative_share": (train_config.num_sampled_negatives
                                      / train_config.batch_size),
           "list_holdout_fraction": train_config.list_holdout_fraction}
  with warnings.catch_warnings():  # "experimental" since Optuna 3.1
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    sampler = optuna.samplers.BruteForceSampler(seed=seed)
  study = optuna.create_study(
      direction="maximize", sampler=sampler,
      pruner=optuna.pruners.SuccessiveHalvingPruner(
          min_resource=space.min_epochs, reduction_factor=2))
  first = {name: given[name] if given[name] in values else values[0]
           for name, values in grid.items()}
  study.enqueue_trial(first)
  start, epochs_run = time.perf_counter(), 0

  def objective(trial: optuna.Trial) -> float:
    nonlocal epochs_run
    params = {name: trial.suggest_categorical(name, values)
              for name, values in grid.items()}
    trial_model, trial_train = _configs(params, model_config, train_config,
                                        longest)
    scores = _run(validation, trial_model,
                  dataclasses.replace(trial_train, epochs=space.max_epochs),
                  k, seed, trial)
    epochs_run += len(scores.rows)
    rows = scores.rows[space.min_epochs - 1:] or scores.rows
    best = max(rows, key=lambda row: row["quality"])
    record["trials"].append({"params": params, "curve": scores.rows,
                             "pruned": scores.pruned,
                             "epochs": best["epoch"],
                             "quality": best["quality"]})
    elapsed = time.perf_counter() - start
    left = ((trials - trial.number - 1) + len(space.gammas)) * space.max_epochs
    say(f"  trial {trial.number + 1}/{trials} "
        + ", ".join(f"{n} {v:g}" for n, v in params.items())
        + f": quality {best['quality']:.4f} at epoch {best['epoch']}"
        + (f" (pruned after epoch {len(scores.rows)})" if scores.pruned
           else "")
        + f"; {_minutes(elapsed)} spent, at most about "
        f"{_minutes(left * elapsed / max(epochs_run, 1))} left")
    trial.set_user_attr("epochs", best["epoch"])
    if scores.pruned:
      raise optuna.TrialPruned()
    return best["quality"]

  verbosity = optuna.logging.get_verbosity()
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  try:
    study.optimize(objective, n_trials=trials)
  finally:
    optuna.logging.set_verbosity(verbosity)
  # A pruned trial's best epoch can still be the best seen (it was pruned
  # later, for what came after).
  winner = max(record["trials"], key=lambda row: row["quality"])
  epochs, base_quality = winner["epochs"], winner["quality"]
  model_config, train_config = _configs(winner["params"], model_config,
                                        train_config, longest)
  warmup = epochs // 2
  base_row = winner["curve"][epochs - 1]
  record["gamma"].append({"gamma": 0.0, **{k2: v for k2, v in base_row.items()
                                           if k2 != "epoch"}})
  choice = (base_quality, 0.0)
  for gamma in space.gammas:
    rows = _run(validation, dataclasses.replace(model_config, gamma=gamma),
                dataclasses.replace(train_config, epochs=epochs,
                                    distillation_warmup_epochs=warmup),
                k, seed).rows
    final = {k2: v for k2, v in rows[-1].items() if k2 != "epoch"}
    record["gamma"].append({"gamma": float(gamma), **final})
    say(f"  validation, gamma {gamma:g}: quality {final['quality']:.4f}, "
        f"irretrievable@{k} {final[f'irretrievable@{k}']:.4f}")
    if final["quality"] > choice[0]:
      choice = (final["quality"], float(gamma))
  gamma = choice[1]
  chosen_train = dataclasses.replace(
      train_config, epochs=epochs,
      distillation_warmup_epochs=warmup if gamma else 0)
  chosen_model = dataclasses.replace(model_config, gamma=gamma)
  record["chosen"] = {"epochs": epochs,
                      "history_length": chosen_model.history_length,
                      "output_dim": chosen_model.output_dim,
                      "num_sampled_negatives":
                          chosen_train.num_sampled_negatives,
                      "list_holdout_fraction":
                          chosen_train.list_holdout_fraction,
                      "gamma": gamma,
                      "distillation_warmup_epochs":
                          chosen_train.distillation_warmup_epochs}
  record["wall_s"] = time.perf_counter() - start
  say(f"  chosen in {_minutes(record['wall_s'])}: {record['chosen']}")
  return chosen_model, chosen_train, record
