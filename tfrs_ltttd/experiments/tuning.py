"""Settings chosen per data set, on a validation split cut from train.

Nothing here looks at the test split: `choose_settings` cuts each user's
latest train interactions off as validation (`validation_split`), trains on
the rest and keeps what scores best there, in five stages:

1. the towers' settings, shared by LT-TTD and the cascade, searched with
   Optuna (arXiv 1907.10902) on the towers alone: each trial trains one
   candidate setting once, scored on validation after every epoch, and a
   successive-halving pruner stops the trials that trail;
2. the list make-up, with the whole system, its epochs read off the curve;
3. the distillation strength;
4. each system's re-ranker stage on its frozen towers (the cascade's
   second, LT-TTD's closing one), trained at the chosen settings up to
   `max_epochs` and served at its best epoch (early stopping, read off the
   whole curve), then the weight of each system's re-ranker correction (0:
   the towers' order is served);
5. the system served: LT-TTD, or the cascade where it scored higher
   (`train_chosen` trains the chosen one and serves its weights).

What it picks and every score it saw are returned, so a report can print
them. The defaults of `ModelConfig` and `TrainConfig` are starting points,
not settings tuned on any data set.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import optuna
import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions, validation_split
from tfrs_ltttd.evaluation import baselines, protocol
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.models.ltttd import LTTTDModel
from tfrs_ltttd.settings import (NON_NEGATIVE, NON_NEGATIVE_INT, OPEN_SHARE,
                                 POSITIVE_INT, SHARE, check, setting)
from tfrs_ltttd.training.config import TrainConfig
from tfrs_ltttd.training.systems import (RERANKER_EPOCHS, SYSTEM_NAMES, SYSTEMS,
                                         train_system)

VALIDATION_K = 100
# The item-item table `ltttd evaluate` builds unless told otherwise: EASE's
# inverse costs num_items^3 (about a minute at 12k items on two cores), so
# catalogues above ITEM_ITEM_MAX_ITEMS go without.
ITEM_ITEM_NEIGHBOURS = 200
ITEM_ITEM_MAX_ITEMS = 20_000


def default_item_item_neighbours(num_items: int, history_length: int) -> int:
  """N of the default item-item table (`ModelConfig.item_item_neighbours`):
  `ITEM_ITEM_NEIGHBOURS` for a catalogue of at most `ITEM_ITEM_MAX_ITEMS`
  items and towers that read a history, else 0 (no table). Its weight in the
  served score, 0 included, is chosen on validation (`choose_settings`)."""
  if not history_length or num_items > ITEM_ITEM_MAX_ITEMS:
    return 0
  return ITEM_ITEM_NEIGHBOURS


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """What `choose_settings` tries.

  Attributes:
    max_epochs: the longest run; epoch counts are read off validation
      curves.
    min_epochs: the shortest epoch count considered, and the first epoch at
      which the pruner compares trials.
    trials: settings of the towers trained (each at most `max_epochs`);
      when the grid below has fewer combinations, every one is tried once.
    history_lengths: H, the history the towers read, tried (a value at
      least the longest train history reads all of it).
    output_dims: d, the towers' embedding dimension, tried.
    sampled_negative_shares: catalogue-wide sampled negatives per step, as a
      share of `batch_size`, tried (`TrainConfig.num_sampled_negatives`).
    list_holdout_fractions: list make-ups tried with the chosen towers
      (`TrainConfig`).
    gammas: distillation strengths tried at the chosen setting, each with a
      warm-up of half the epochs (0 is always in, from the second stage).
    teacher_item_item_weights: with an item-item table
      (`ModelConfig.item_item_neighbours`), the teachers each gamma is tried
      with: the transformer's scores plus this weight times the item-item
      term, distilled over the list and over the step's in-batch items
      (`ModelConfig.teacher_item_item_weight`, `wide_distillation`); 0 is
      the transformer alone, over the list. Without a table, the
      transformer alone.
    correction_weights: weights of the re-ranker's correction scored on
      every validation run of a whole system; each run is scored at its
      best, and the chosen run's best weight is served (ties go to the
      smaller weight).
    item_item_weights: weights of the item-item term (a model with an
      item-item table, `ModelConfig.item_item_neighbours`) tried with every
      correction weight on one run of each system at the chosen settings.
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
  teacher_item_item_weights: Tuple[float, ...] = setting((1.0,), NON_NEGATIVE)
  correction_weights: Tuple[float, ...] = setting((0.0, 0.25, 0.5, 0.75, 1.0),
                                                  NON_NEGATIVE)
  item_item_weights: Tuple[float, ...] = setting(
      (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0), NON_NEGATIVE)
  validation_fraction: float = setting(0.1, OPEN_SHARE)

  def __post_init__(self):
    check(self)
    if not 1 <= self.min_epochs <= self.max_epochs:
      raise ValueError("SearchSpace needs 1 <= min_epochs <= max_epochs, got "
                       f"{self.min_epochs} and {self.max_epochs}.")
    for name in ("history_lengths", "output_dims", "sampled_negative_shares",
                 "list_holdout_fractions", "correction_weights",
                 "item_item_weights", "teacher_item_item_weights"):
      if not getattr(self, name):
        raise ValueError(f"SearchSpace.{name} is empty.")

  def towers_grid(self) -> Dict[str, Tuple[Any, ...]]:
    """Setting of the towers -> the values tried (duplicates dropped)."""
    return {"history_length": tuple(dict.fromkeys(self.history_lengths)),
            "output_dim": tuple(dict.fromkeys(self.output_dims)),
            "sampled_negative_share": tuple(dict.fromkeys(
                self.sampled_negative_shares))}


def quality(metrics: Dict[str, float], k: int = VALIDATION_K,
            ranking: str = "ndcg@10") -> float:
  """The selection score: the geometric mean of retrieval recall@k and the
  final NDCG@10 (UPQE without its latency term), so that a setting cannot
  buy one stage's quality with the other's. With `ranking="ndcg@10_two_tower"`
  the towers' own order stands for the final one (the towers alone)."""
  return float(np.sqrt(max(metrics[f"recall@{k}"], 0.0)
                       * max(metrics[ranking], 0.0)))


def scored(model, data: Interactions, k: int,
           weights: Tuple[float, ...] = ()) -> Dict[str, Any]:
  """Validation metrics of `model` and their `quality`: of the towers' own
  order when `weights` is empty, else of the final list at the best of the
  correction `weights` (`"correction_weight"`, `"ndcg@10_served"`)."""
  return _at_best_weight(protocol.evaluate(
      model, data, k_retrieval=k, correction_weights=weights,
      with_reranker=bool(weights)), k, weights)


def _at_best_weight(metrics: Dict[str, Any], k: int,
                    weights: Tuple[float, ...]) -> Dict[str, Any]:
  """`scored`'s answer from `protocol.evaluate`'s `metrics`."""
  ranking = "ndcg@10_two_tower"
  if weights:
    by_weight = metrics["ndcg@10_by_correction_weight"]
    best = max(by_weight, key=by_weight.get)  # the first, smallest, of ties
    metrics.update(correction_weight=float(best),
                   **{"ndcg@10_served": by_weight[best]})
    ranking = "ndcg@10_served"
  return {**metrics, "quality": quality(metrics, k, ranking)}


def scored_weights(model, data: Interactions, k: int,
                   correction_weights: Tuple[float, ...],
                   item_item_weights: Tuple[float, ...]) -> Dict[str, Any]:
  """`scored` at the best pair of a correction weight and an item-item
  weight (`model` has an item-item table), its `"item_item_weight"` and
  `"ndcg@10_by_item_item_weight"` (each at its best correction weight)
  added; the model is given back serving an item-item weight of 0."""
  model.item_item.set_served_weight(0.0)
  metrics = protocol.evaluate(model, data, k_retrieval=k,
                              correction_weights=correction_weights,
                              item_item_weights=item_item_weights)
  by_weight = metrics.pop("by_item_item_weight")
  del metrics["ndcg@10_by_item_item_weight"]
  rows = {weight: _at_best_weight({**metrics, **by_weight[f"{weight:g}"]}, k,
                                  correction_weights)
          for weight in dict.fromkeys(item_item_weights)}
  best = max(rows, key=lambda w: rows[w]["quality"])  # ties: the smaller
  return {**rows[best], "item_item_weight": float(best),
          "ndcg@10_by_item_item_weight": {
              f"{w:g}": row["ndcg@10_served"] for w, row in rows.items()}}


class _RerankerEpochs(tf.keras.callbacks.Callback):
  """Early stopping for a re-ranker's own stage, its towers frozen (the
  cascade's second, LT-TTD's closing one): after each of its epochs the
  model is scored on validation (`scored`, at its best correction weight)
  and the re-ranker's weights of the best epoch so far (the first of ties)
  are kept; `restore` puts them back. Epochs that train the towers are
  skipped. With `from_start`, the re-ranker the stage starts from is scored
  too, as epoch 0 (LT-TTD's, trained jointly; the cascade's is untrained)."""

  def __init__(self, data: Interactions, k: int, weights: Tuple[float, ...],
               from_start: bool = False):
    super().__init__()
    self.data, self.k, self.weights = data, k, weights
    self.from_start = from_start
    self.rows, self._best = [], None

  def _score(self, epoch: int) -> None:
    if self.model.query_tower.trainable:  # not the re-ranker's own stage
      return
    self.rows.append({"epoch": epoch, **scored(
        self.model, self.data, self.k, self.weights)})
    if self._best is None or self.rows[-1]["quality"] > self._best[0]:
      self._best = (self.rows[-1]["quality"], epoch,
                    self.model.transformer.get_weights())

  def on_train_begin(self, logs=None):
    if self.from_start:
      self._score(0)

  def on_epoch_end(self, epoch, logs=None):
    self._score(epoch + 1)

  def restore(self) -> int:
    """Sets the re-ranker's weights of the best epoch; returns that epoch.

    Raises:
      ValueError: when no epoch of the re-ranker's stage was scored.
    """
    if self._best is None:
      raise ValueError("_RerankerEpochs: no re-ranker epoch was scored.")
    _, epoch, weights = self._best
    self.model.transformer.set_weights(weights)
    return epoch


class _EpochScores(tf.keras.callbacks.Callback):
  """Validation metrics after every epoch of a `tfrs_ltttd.training.fit`
  run, reported to an Optuna trial, whose pruner may stop the run."""

  def __init__(self, data: Interactions, k: int, weights: Tuple[float, ...],
               trial: Optional[optuna.Trial] = None, last_epoch: int = 0):
    super().__init__()
    self.data, self.k, self.weights, self.trial = data, k, weights, trial
    self.last_epoch = last_epoch
    self.rows, self.pruned = [], False

  def on_epoch_end(self, epoch, logs=None):
    # The towers alone (no lists scored) are scored on their own order.
    weights = self.weights if self.model.task.needs_lists else ()
    self.rows.append({"epoch": epoch + 1,
                      **scored(self.model, self.data, self.k, weights)})
    if self.trial is not None:
      self.trial.report(self.rows[-1]["quality"], epoch + 1)
      # After the last epoch there is nothing left to save.
      if epoch + 1 < self.last_epoch and self.trial.should_prune():
        self.pruned = True
        self.model.stop_training = True


def _trained(data, model_config, train_config, seed, callbacks=(),
             system="ltttd"):
  """`system` trained from scratch, seeded with `seed` throughout (weights
  and lists)."""
  return train_system(system, data, model_config,
                      dataclasses.replace(train_config, seed=seed),
                      callbacks=list(callbacks))[0]


def _run(data, model_config, train_config, k, seed, weights, trial=None):
  """Trains from scratch; returns the validation rows (and pruning)."""
  scores = _EpochScores(data, k, weights, trial, train_config.epochs)
  _trained(data, model_config, train_config, seed, [scores])
  return scores


def _towers(params, model_config, train_config, longest):
  """The configs of one setting of the towers."""
  sampled = int(round(params["sampled_negative_share"]
                      * train_config.batch_size))
  return (dataclasses.replace(model_config,
                              history_length=min(params["history_length"],
                                                 longest),
                              output_dim=params["output_dim"]),
          dataclasses.replace(train_config, num_sampled_negatives=sampled))


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
  """Picks the towers' settings, the list make-up, the epochs, the
  distillation and the re-rankers' correction weights for `data`, on
  validation.

  1. Towers: up to `space.trials` settings of `space.towers_grid()` (the
     one of the given configs first, then the others in an order drawn with
     `seed`, each at most once) train the towers alone (the retrieval loss
     only: LT-TTD without distillation trains its towers the same way) for
     up to `max_epochs`, scored on validation after every epoch by `quality`
     with the towers' own order. Optuna's `SuccessiveHalvingPruner` stops a
     trial whose score at epoch `min_epochs`, `2 min_epochs`, ... is below
     the best half of the trials that reached that epoch. The best setting
     wins.
  2. Lists: with those towers, LT-TTD without distillation trains for
     `max_epochs` for each `list_holdout_fraction`, scored after every
     epoch; the best (fraction, epochs) wins.
  3. At those, each gamma of `space.gammas` trains with a warm-up of half
     the epochs; the best of them and of gamma 0 wins.
  4. Each whole-system run above is scored at its best correction weight
     (`space.correction_weights`). At the chosen settings each system is
     then trained once more with its re-ranker's own stage (towers frozen)
     up to `max_epochs`, scored after each epoch: the cascade's second stage
     (`rerank_epochs`), and LT-TTD's closing stage, on lists from its final
     towers, scored from epoch 0, the jointly trained re-ranker
     (`closing_epochs`, 0: none). Each system's best epoch (the first of
     ties) is its setting (the curves in `record["rerank_epochs"]` and
     `record["closing_epochs"]`), and that run, scored, gives the
     correction weight it serves (`record["chosen"]["correction_weight"]`).
  5. The system served is LT-TTD, or the cascade where its run of stage 4
     scored higher than LT-TTD's (`record["chosen"]["system"]`, both scores
     in `record["systems"]`; a tie goes to LT-TTD): on data where joint
     training and distillation do not pay, the cascade is served
     (`train_chosen`).

  A line after every run says what it scored, the time spent and the time
  left if every remaining run went to `max_epochs` at the stage's pace.

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
  # Stages 1-3 train LT-TTD's joint epochs alone; its closing stage's
  # epochs are chosen in stage 4.
  train_config = dataclasses.replace(train_config, closing_epochs=0)
  weights = tuple(sorted(set(space.correction_weights)))
  validation = validation_split(data, space.validation_fraction)
  k = min(VALIDATION_K, data.num_items)
  longest = int(np.max(np.bincount(validation.train["user"]), initial=1))
  if model_config.item_item_neighbours:
    # The item-item table's EASE penalty, on the same validation split.
    l2, _ = baselines.choose_ease_l2(data, fraction=space.validation_fraction)
    model_config = dataclasses.replace(model_config, item_item_l2=l2)
    say(f"  item-item table: EASE lambda {l2:g} (best on validation), "
        f"{model_config.item_item_neighbours} neighbours per item")
  grid = space.towers_grid()
  trials = min(space.trials, int(np.prod([len(v) for v in grid.values()])))
  record: Dict[str, Any] = {
      "validation_fraction": space.validation_fraction, "seed": seed,
      "score": f"sqrt(recall@{k} * ndcg@10) on validation (the towers: "
               "their own order's ndcg@10)",
      "grid": {name: list(values) for name, values in grid.items()},
      "trials": [], "epochs_curves": {}, "gamma": [],
      "correction_weights": {}}
  start = time.perf_counter()

  def progress(stage_start, epochs_done, epochs_left):
    spent = time.perf_counter() - start
    pace = (time.perf_counter() - stage_start) / max(epochs_done, 1)
    return (f"{_minutes(spent)} spent, at most about "
            f"{_minutes(epochs_left * pace)} left in this stage")

  # 1. The towers, alone.
  towers_model = dataclasses.replace(model_config, beta=0.0, gamma=0.0,
                                     reverse_weight=0.0)
  towers_train = dataclasses.replace(train_config, num_hard_negatives=0,
                                     distillation_warmup_epochs=0,
                                     epochs=space.max_epochs)
  given = {"history_length": model_config.history_length,
           "output_dim": model_config.output_dim,
           "sampled_negative_share": (train_config.num_sampled_negatives
                                      / train_config.batch_size)}
  stage_start, epochs_run = time.perf_counter(), 0

  def objective(trial: optuna.Trial) -> float:
    nonlocal epochs_run
    params = {name: trial.suggest_categorical(name, values)
              for name, values in grid.items()}
    scores = _run(validation, *_towers(params, towers_model, towers_train,
                                       longest), k, seed, (), trial)
    epochs_run += len(scores.rows)
    rows = scores.rows[space.min_epochs - 1:] or scores.rows
    best = max(rows, key=lambda row: row["quality"])
    record["trials"].append({"params": params, "curve": scores.rows,
                             "pruned": scores.pruned,
                             "epochs": best["epoch"],
                             "quality": best["quality"]})
    say(f"  towers {trial.number + 1}/{trials}: "
        + ", ".join(f"{n} {v:g}" for n, v in params.items())
        + f": quality {best['quality']:.4f} at epoch {best['epoch']}"
        + (f" (pruned after epoch {len(scores.rows)})" if scores.pruned
           else "") + "; " + progress(
               stage_start, epochs_run,
               (trials - trial.number - 1) * space.max_epochs))
    if scores.pruned:
      raise optuna.TrialPruned()
    return best["quality"]

  verbosity = optuna.logging.get_verbosity()
  optuna.logging.set_verbosity(optuna.logging.WARNING)  # our lines only
  try:
    with warnings.catch_warnings():  # "experimental" since Optuna 3.1
      warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
      sampler = optuna.samplers.BruteForceSampler(seed=seed)
    study = optuna.create_study(
        direction="maximize", sampler=sampler,
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=space.min_epochs, reduction_factor=2))
    study.enqueue_trial({name: given[name] if given[name] in values
                         else values[0] for name, values in grid.items()})
    study.optimize(objective, n_trials=trials)
  finally:
    optuna.logging.set_verbosity(verbosity)
  # A pruned trial's best epoch can still be the best seen (it was pruned
  # later, for what came after).
  winner = max(record["trials"], key=lambda row: row["quality"])
  model_config, train_config = _towers(winner["params"], model_config,
                                       train_config, longest)

  # 2. The list make-up and the epochs, with the whole system.
  best: Tuple[float, float, int] = (-1.0, 0.0, space.min_epochs)
  fractions = tuple(dict.fromkeys(space.list_holdout_fractions))
  stage_start = time.perf_counter()
  for n, fraction in enumerate(fractions):
    rows = _run(validation, dataclasses.replace(model_config, gamma=0.0),
                dataclasses.replace(train_config, epochs=space.max_epochs,
                                    distillation_warmup_epochs=0,
                                    list_holdout_fraction=fraction),
                k, seed, weights).rows
    record["epochs_curves"][f"{fraction:g}"] = rows
    for row in rows[space.min_epochs - 1:]:
      if row["quality"] > best[0]:
        best = (row["quality"], fraction, row["epoch"])
    say(f"  lists, list_holdout_fraction {fraction:g}: quality by epoch "
        + " ".join(f"{r['quality']:.4f} (w {r['correction_weight']:g})"
                   for r in rows) + "; "
        + progress(stage_start, (n + 1) * space.max_epochs,
                   (len(fractions) - n - 1 + len(space.gammas))
                   * space.max_epochs))
  base_quality, fraction, epochs = best
  train_config = dataclasses.replace(train_config,
                                     list_holdout_fraction=fraction)

  # 3. The distillation strength and its teacher. With an item-item table
  # each run, gamma 0 included, is scored as it would be served (at its best
  # item-item weight), and the chosen run is LT-TTD's in stage 4.
  warmup = epochs // 2
  table = bool(model_config.item_item_neighbours)
  teachers = (tuple(dict.fromkeys(space.teacher_item_item_weights))
              if table else (0.0,))
  tries = [(0.0, 0.0)] if table else []
  tries += [(float(gamma), float(teacher))
            for gamma in dict.fromkeys(space.gammas) if gamma
            for teacher in teachers]

  def distilled(gamma, teacher):
    return (dataclasses.replace(model_config, gamma=gamma,
                                teacher_item_item_weight=teacher,
                                wide_distillation=teacher > 0),
            dataclasses.replace(train_config, epochs=epochs,
                                distillation_warmup_epochs=(
                                    warmup if gamma else 0)))

  choice = (-1.0, (0.0, 0.0))
  if not table:  # gamma 0 is the second stage's run
    base_row = record["epochs_curves"][f"{fraction:g}"][epochs - 1]
    record["gamma"].append({"gamma": 0.0, "teacher_item_item_weight": 0.0,
                            **{k2: v for k2, v in base_row.items()
                               if k2 != "epoch"}})
    choice = (base_quality, (0.0, 0.0))
  stage_start = time.perf_counter()
  for n, (gamma, teacher) in enumerate(tries):
    model = _trained(validation, *distilled(gamma, teacher), seed)
    row = (scored_weights(model, validation, k, weights,
                          space.item_item_weights) if table
           else scored(model, validation, k, weights))
    record["gamma"].append({"gamma": gamma,
                            "teacher_item_item_weight": teacher, **row})
    say(f"  distillation, gamma {gamma:g}"
        + (f", teacher + {teacher:g} x item-item, list and in-batch items"
           if teacher else "")
        + f": quality {row['quality']:.4f}, served NDCG@10 "
        f"{row['ndcg@10_served']:.4f}, towers' NDCG@10 "
        f"{row['ndcg@10_two_tower']:.4f}, recall@{k} {row[f'recall@{k}']:.4f},"
        f" irretrievable@{k} {row[f'irretrievable@{k}']:.4f}; "
        + progress(stage_start, (n + 1) * epochs,
                   (len(tries) - n - 1) * epochs))
    if row["quality"] > choice[0]:
      choice = (row["quality"], (gamma, teacher))
  gamma, teacher = choice[1]
  chosen_model, chosen_train = distilled(gamma, teacher)

  # 4. Each system's re-ranker stage on its frozen towers, its epochs read
  # off its validation curve (LT-TTD's closing stage from 0: none), then how
  # much of each re-ranker's correction (and of the item-item term) to serve.
  runs = {}
  for system, stage in (("ltttd", "closing stage"),
                        ("cascade", "re-ranker stage")):
    setting_name = RERANKER_EPOCHS[system]
    stopping = _RerankerEpochs(validation, k, weights,
                               from_start=system == "ltttd")
    model = _trained(validation, chosen_model, dataclasses.replace(
        chosen_train, **{setting_name: space.max_epochs}), seed, [stopping],
                     system=system)
    chosen_train = dataclasses.replace(chosen_train,
                                       **{setting_name: stopping.restore()})
    record[setting_name] = stopping.rows
    say(f"  {SYSTEM_NAMES[system]}: {stage}, validation quality by epoch "
        + " ".join(f"{r['epoch']}: {r['quality']:.4f}" for r in stopping.rows)
        + f"; serving epoch {getattr(chosen_train, setting_name)}")
    runs[system] = (scored_weights(model, validation, k, weights,
                                   space.item_item_weights) if table
                    else scored(model, validation, k, weights))
  for system, row in runs.items():
    record["correction_weights"][system] = {
        "chosen": row["correction_weight"],
        "ndcg@10_by_correction_weight": row["ndcg@10_by_correction_weight"]}
    say(f"  {system}: validation NDCG@10 by correction weight "
        + ", ".join(f"{w} {v:.4f}" for w, v in
                    row["ndcg@10_by_correction_weight"].items())
        + f"; serving {row['correction_weight']:g}")
    if "item_item_weight" in row:
      record.setdefault("item_item_weights", {})[system] = {
          "chosen": row["item_item_weight"],
          "ndcg@10_by_item_item_weight":
              row["ndcg@10_by_item_item_weight"]}
      say(f"  {system}: validation NDCG@10 by item-item weight "
          + ", ".join(f"{w} {v:.4f}" for w, v in
                      row["ndcg@10_by_item_item_weight"].items())
          + f"; serving {row['item_item_weight']:g}")
  # 5. The system served: LT-TTD unless the cascade scored higher (a tie
  # goes LT-TTD's way).
  system = max(runs, key=lambda name: runs[name]["quality"])
  record["systems"] = {name: row["quality"] for name, row in runs.items()}
  say(f"  system served: {SYSTEM_NAMES[system]} (validation quality "
      + ", ".join(f"{SYSTEM_NAMES[name]} {row['quality']:.4f}"
                  for name, row in runs.items()) + ")")
  record["chosen"] = {"system": system, "epochs": epochs,
                      "rerank_epochs": chosen_train.rerank_epochs,
                      "closing_epochs": chosen_train.closing_epochs,
                      "history_length": chosen_model.history_length,
                      "output_dim": chosen_model.output_dim,
                      "num_sampled_negatives":
                          chosen_train.num_sampled_negatives,
                      "list_holdout_fraction":
                          chosen_train.list_holdout_fraction,
                      "gamma": gamma,
                      "teacher_item_item_weight": teacher,
                      "item_item_l2": chosen_model.item_item_l2,
                      "distillation_warmup_epochs":
                          chosen_train.distillation_warmup_epochs,
                      "correction_weight": {
                          system: row["correction_weight"]
                          for system, row in runs.items()},
                      "item_item_weight": {
                          system: row.get("item_item_weight", 0.0)
                          for system, row in runs.items()}}
  record["wall_s"] = time.perf_counter() - start
  say(f"  chosen in {_minutes(record['wall_s'])}: {record['chosen']}")
  return chosen_model, chosen_train, record


def train_chosen(data: Interactions, model_config: ModelConfig,
                 train_config: TrainConfig, record: Dict[str, Any],
                 verbose: int = 0) -> LTTTDModel:
  """Trains the system `choose_settings` chose for `data` (LT-TTD, or the
  cascade where it scored higher on validation) at the chosen settings, and
  sets the correction and item-item weights chosen for it.

  Args:
    data: the interactions.
    model_config, train_config: the configs `choose_settings` returned.
    record: its record (`record["chosen"]` is read).
    verbose: Keras verbosity.

  Returns:
    The trained model, serving the chosen weights.

  Raises:
    ValueError: when `record` holds no chosen system.
  """
  chosen = record.get("chosen", {})
  if chosen.get("system") not in SYSTEMS:
    raise ValueError("record: no chosen system; pass the record "
                     "choose_settings returned.")
  system = chosen["system"]
  model, _ = train_system(system, data, model_config, train_config,
                          verbose=verbose)
  model.set_served_weights(chosen["correction_weight"][system],
                           chosen["item_item_weight"][system])
  return model
