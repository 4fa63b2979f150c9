"""LT-TTD against the decoupled cascade and the baselines, measured.

`compare` trains both systems on the same data with the same configs and
seeds, and measures each on the held-out split: recall@K and the
irretrievable rate of retrieval, NDCG@10 and MRR of the final ranking and of
the towers' own order (so the re-ranker's lift shows), UPQE, training time
and the p50 latency of one recommend request; beside them, popularity and
EASE on the same split and metrics. `gamma_sweep` measures the
irretrievable rate as the distillation strength grows.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfrs_ltttd import evaluation
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.evaluation import baselines
from tfrs_ltttd.evaluation.metrics import upqe
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.serving import Recommender
from tfrs_ltttd.training.config import TrainConfig
from tfrs_ltttd.training.systems import SYSTEMS, train_system

RECALL_KS = (50, 100, 200)
SERVE_K = 100  # candidates handed to the re-ranker
HEADLINE = ("ndcg@10", "mrr", "recall@50", "recall@100", "recall@200",
            "irretrievable@100", "upqe", "train_s", "p50_ms",
            "ndcg@10_two_tower", "mrr_two_tower",
            f"list_positives_in_top{SERVE_K}_train",
            f"list_positives_in_top{SERVE_K}_test")
BASELINES = ("popularity", "ease")


def latency_p50_ms(model, data: Interactions, num_candidates: int = SERVE_K,
                   k: int = 10, requests: int = 200, seed: int = 0) -> float:
  """p50 wall time of one single-user `recommend` call (BruteForce index)."""
  recommender = Recommender(model, data.items, data.item_id_feature,
                            num_candidates=num_candidates, k=k)
  serve = recommender.signatures()["serving_default"]
  rng = np.random.default_rng(seed)
  rows = rng.integers(0, data.num_users, requests + 10)
  queries = serving_query(data, rows, model.query_tower.history_length)
  times = []
  for n in range(len(rows)):
    query = {name: tf.constant(values[n:n + 1])
             for name, values in queries.items()}
    start = time.perf_counter()
    serve(**query)["item_ids"].numpy()
    if n >= 10:  # warm-up
      times.append(time.perf_counter() - start)
  return float(np.median(times) * 1000)


def measure(model, data: Interactions,
            list_holdout_fraction: float = 0.0) -> Dict[str, float]:
  """Held-out metrics of one trained system, UPQE and latency included, and
  the share of its lists' training positives in its towers' top-K beside
  the test positives' share (`evaluation.list_positive_share`)."""
  serve_k = min(SERVE_K, data.num_items)
  out = evaluation.evaluate(model, data, k_retrieval=serve_k,
                            recall_ks=RECALL_KS)
  share = evaluation.list_positive_share(model, data, serve_k,
                                         list_holdout_fraction)
  out[f"list_positives_in_top{serve_k}_train"] = share["train_lists"]
  out[f"list_positives_in_top{serve_k}_test"] = share["test"]
  out["p50_ms"] = latency_p50_ms(model, data, num_candidates=serve_k)
  out["upqe"] = upqe(out[f"recall@{serve_k}"], out["ndcg@10"], out["p50_ms"])
  return out


def compare(data: Interactions, seeds: Sequence[int],
            model_config: ModelConfig = ModelConfig(),
            train_config: TrainConfig = TrainConfig(),
            verbose: int = 0,
            correction_weights: Optional[Mapping[str, float]] = None,
            item_item_weights: Optional[Mapping[str, float]] = None,
            ) -> Dict[str, Any]:
  """LT-TTD and the cascade over several seeds: means, spreads, per seed.

  Args:
    data: the interactions.
    seeds: one training of each system per seed.
    model_config, train_config: the settings of both systems.
    verbose: print a line per system and seed.
    correction_weights: system -> the weight of its re-ranker's correction
      served after training (`ListwiseTransformer.correction_weight`; 1 for
      a system not named).
    item_item_weights: system -> the weight of the item-item term served
      (a model with an item-item table; 0 for a system not named).

  Returns:
    Per system the mean of every metric of `measure`, `"std"` and
    `"per_seed"`; the baselines; the configs and training histories.
  """
  correction_weights = dict(correction_weights or {})
  item_item_weights = dict(item_item_weights or {})
  result: Dict[str, Any] = {"seeds": list(seeds),
                            "model_config": dataclasses.asdict(model_config),
                            "train_config": dataclasses.asdict(train_config),
                            "histories": {s: [] for s in SYSTEMS}}
  per_seed: Dict[str, Dict[str, List[float]]] = {s: {} for s in SYSTEMS}
  for seed in seeds:
    for system in SYSTEMS:
      config = dataclasses.replace(train_config, seed=seed)
      start = time.perf_counter()
      model, history = train_system(system, data, model_config, config,
                                    verbose=2 if verbose else 0)
      seconds = time.perf_counter() - start
      weight = float(correction_weights.get(system, 1.0))
      item_item = float(item_item_weights.get(system, 0.0))
      model.set_served_weights(weight, item_item)
      metrics = {**measure(model, data, config.list_holdout_fraction),
                 "train_s": seconds, "correction_weight": weight,
                 "item_item_weight": item_item}
      if verbose:
        print(f"seed {seed} {system}: " + ", ".join(
            f"{k}={metrics[k]:.4f}" for k in HEADLINE if k in metrics))
      for key, value in metrics.items():
        per_seed[system].setdefault(key, []).append(float(value))
      result["histories"][system].append(history)
  result.update(baselines.run_baselines(
      data, min(SERVE_K, data.num_items), RECALL_KS))
  for system in SYSTEMS:
    values = per_seed[system]
    result[system] = {k: float(np.mean(v)) for k, v in values.items()}
    result[system]["std"] = {k: float(np.std(v)) for k, v in values.items()}
    result[system]["per_seed"] = values
  return result


def gamma_sweep(data: Interactions, gammas: Sequence[float], seed: int,
                model_config: ModelConfig = ModelConfig(),
                train_config: TrainConfig = TrainConfig()
                ) -> List[Dict[str, float]]:
  """Irretrievable rate (and friends) of LT-TTD for each distillation gamma."""
  rows = []
  for gamma in gammas:
    model, _ = train_system(
        "ltttd", data, dataclasses.replace(model_config, gamma=gamma),
        dataclasses.replace(train_config, seed=seed))
    metrics = evaluation.evaluate(model, data,
                                  k_retrieval=min(SERVE_K, data.num_items),
                                  recall_ks=RECALL_KS)
    rows.append({"gamma": float(gamma), **metrics})
  return rows
