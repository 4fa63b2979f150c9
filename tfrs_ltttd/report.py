"""LT-TTD against the decoupled cascade and the baselines: the report.

`compare` trains both systems on the same data with the same configs and
seeds, and measures each on the held-out split: recall@K and the
irretrievable rate of retrieval, NDCG@10 and MRR of the final ranking and of
the towers' own order (so the re-ranker's lift shows), UPQE, training time
and the p50 latency of one recommend request; beside them, popularity and
EASE on the same split and metrics. `gamma_sweep` measures the
irretrievable rate as the distillation strength grows. `write_report`
writes JSON, Markdown and PNG plots, each atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile
import time
from typing import Any, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from tfrs_ltttd import baselines, evaluation, training
from tfrs_ltttd.config import ModelConfig, TrainConfig
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.metrics import upqe
from tfrs_ltttd.models.cascade import train_cascade
from tfrs_ltttd.models.ltttd import LTTTDModel

SYSTEMS = ("ltttd", "cascade")
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
  from tfrs_ltttd.serving import Recommender  # pylint: disable=g-import-not-at-top

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


def train_system(system: str, data: Interactions, model_config: ModelConfig,
                 train_config: TrainConfig, verbose: int = 0):
  """Trains `"ltttd"` or `"cascade"`; returns (model, history, seconds)."""
  tf.keras.utils.set_random_seed(train_config.seed)
  start = time.perf_counter()
  if system == "ltttd":
    model = LTTTDModel.from_data(data, model_config)
    history = training.fit(model, data, train_config, verbose=verbose)
  elif system == "cascade":
    model, stages = train_cascade(data, model_config, train_config,
                                  verbose=verbose)
    history = {f"l1_{k}": v for k, v in stages["l1"].items()}
    history.update({f"l2_{k}": v for k, v in stages["l2"].items()})
  else:
    raise ValueError(f"system must be one of {SYSTEMS}, got '{system}'.")
  return model, history, time.perf_counter() - start


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
            verbose: int = 0) -> Dict[str, Any]:
  """LT-TTD and the cascade over several seeds: means, spreads, per seed."""
  result: Dict[str, Any] = {"seeds": list(seeds),
                            "model_config": dataclasses.asdict(model_config),
                            "train_config": dataclasses.asdict(train_config),
                            "histories": {s: [] for s in SYSTEMS}}
  per_seed: Dict[str, Dict[str, List[float]]] = {s: {} for s in SYSTEMS}
  for seed in seeds:
    for system in SYSTEMS:
      config = dataclasses.replace(train_config, seed=seed)
      model, history, seconds = train_system(system, data, model_config,
                                             config, 2 if verbose else 0)
      metrics = {**measure(model, data, config.list_holdout_fraction),
                 "train_s": seconds}
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
    model, _, _ = train_system(
        "ltttd", data, dataclasses.replace(model_config, gamma=gamma),
        dataclasses.replace(train_config, seed=seed))
    metrics = evaluation.evaluate(model, data,
                                  k_retrieval=min(SERVE_K, data.num_items),
                                  recall_ks=RECALL_KS)
    rows.append({"gamma": float(gamma), **metrics})
  return rows


def _atomic_write(path: pathlib.Path, write) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                             suffix=path.suffix)
  os.close(fd)
  try:
    write(tmp)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _cell(result, column, key):
  """`mean ± std` of a system, the value of a baseline, or the towers'
  order of a system (`column` "ltttd_towers"); "" where it has none."""
  if column.endswith("_towers"):
    system = column[:-len("_towers")]
    tower_key = {"ndcg@10": "ndcg@10_two_tower",
                 "mrr": "mrr_two_tower"}.get(key, key)
    if not key.startswith(("ndcg", "mrr", "recall", "irretrievable")):
      return ""
    return _cell(result, system, tower_key)
  values = result.get(column, {})
  if key not in values:
    return ""
  if "std" in values:
    return f"{values[key]:.4f} ± {values['std'][key]:.4f}"
  return f"{values[key]:.4f}"


def lift(result: Dict[str, Any], system: str, key: str = "ndcg@10") -> float:
  """The re-ranker's relative lift over its own towers' order."""
  towers = result[system][f"{key}_two_tower"]
  return result[system][key] / towers - 1.0 if towers else float("nan")


def markdown(result: Dict[str, Any], title: str) -> str:
  """One table: baselines, each system's towers' order and final ranking
  (mean ± std over seeds), LT-TTD / cascade; then the lifts, the settings
  and the gamma sweep."""
  columns = [("popularity", "popularity"), ("ease", "EASE"),
             ("cascade_towers", "cascade towers"), ("cascade", "cascade"),
             ("ltttd_towers", "LT-TTD towers"), ("ltttd", "LT-TTD")]
  columns = [(c, label) for c, label in columns
             if c.split("_towers")[0] in result]
  lines = [f"# {title}", "",
           f"Seeds: {result['seeds']}. Mean ± std over seeds; held-out split. "
           "Towers = the two-tower order alone (retrieval, no re-ranking); "
           "recall and irretrievable rates are the retrieval stage's.", "",
           "| metric | " + " | ".join(label for _, label in columns)
           + " | LT-TTD / cascade |",
           "| --- |" + " --- |" * (len(columns) + 1)]
  for key in HEADLINE:
    if key not in result["ltttd"] or key.endswith("_two_tower"):
      continue
    a, b = result["ltttd"][key], result["cascade"][key]
    ratio = f"{a / b:.3f}" if b else "n/a"
    lines.append(f"| {key} | " + " | ".join(
        _cell(result, c, key) for c, _ in columns) + f" | {ratio} |")
  if "ndcg@10_two_tower" in result["ltttd"]:
    lines += ["", "Re-ranker lift over its own towers' order (NDCG@10): "
              + ", ".join(f"{label} {lift(result, s):+.1%}" for s, label in
                          (("ltttd", "LT-TTD"), ("cascade", "cascade")))
              + "."]
  if "ease" in result and "l2" in result["ease"]:
    lines += ["", f"EASE lambda {result['ease']['l2']:g}, chosen on the "
              "validation split."]
  if result.get("tuning"):
    chosen = result["tuning"]["chosen"]
    lines += ["", "Settings chosen on a validation split cut from train "
              f"(score {result['tuning']['score']}): "
              + ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else
                          f"{k} {v}" for k, v in chosen.items()) + "."]
    if result["tuning"].get("note"):
      lines += ["", result["tuning"]["note"]]
    curve = result["tuning"].get("gamma", [])
    if curve:
      key = next(k for row in curve for k in row
                 if k.startswith("irretrievable@"))
      recall = "recall@" + key.split("@")[1]

      def num(row, name):
        return f"{row[name]:.4f}" if name in row else "n/a"

      lines += ["", "Distillation strength on validation (LT-TTD, seed "
                f"{result['tuning']['seed']}, chosen epochs):", "",
                f"| gamma | {key} | {recall} | ndcg@10 | score |",
                "| --- | --- | --- | --- | --- |"]
      for row in sorted(curve, key=lambda r: r["gamma"]):
        lines.append(f"| {row['gamma']:g} | {num(row, key)} | "
                     f"{num(row, recall)} | {num(row, 'ndcg@10')} | "
                     f"{num(row, 'quality')} |")
  if result.get("gamma_sweep"):
    lines += ["", "Distillation strength sweep on the test split (LT-TTD, "
              "one seed, reported, not used to choose):", "",
              "| gamma | irretrievable@100 | recall@100 | ndcg@10 |",
              "| --- | --- | --- | --- |"]
    for row in result["gamma_sweep"]:
      lines.append(f"| {row['gamma']:g} | "
                   f"{row.get('irretrievable@100', float('nan')):.4f} | "
                   f"{row.get('recall@100', float('nan')):.4f} | "
                   f"{row['ndcg@10']:.4f} |")
  return "\n".join(lines) + "\n"


def write_report(result: Dict[str, Any], out_dir: str | os.PathLike,
                 name: str, title: str) -> List[pathlib.Path]:
  """Writes `name.json`, `name.md` and the PNG plots into `out_dir`."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  out = pathlib.Path(out_dir)
  written = []

  def save(path, write):
    _atomic_write(path, write)
    written.append(path)

  save(out / f"{name}.json", lambda p: pathlib.Path(p).write_text(
      json.dumps(result, indent=2, sort_keys=True)))
  save(out / f"{name}.md", lambda p: pathlib.Path(p).write_text(
      markdown(result, title)))

  def figure(path, draw):
    fig, ax = plt.subplots(figsize=(6, 4))
    draw(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)

  def recall_curve(ax):
    for system, label in (("ltttd", "LT-TTD"), ("cascade", "cascade")):
      ks = [k for k in RECALL_KS if f"recall@{k}" in result[system]]
      means = [result[system][f"recall@{k}"] for k in ks]
      stds = [result[system]["std"][f"recall@{k}"] for k in ks]
      ax.errorbar(ks, means, yerr=stds, marker="o", capsize=3, label=label)
    ax.set(xlabel="K (retrieval depth)", ylabel="recall@K",
           title="Retrieval stage recall@K")

  def losses(ax):
    first = {s: result["histories"][s][0] for s in SYSTEMS}
    for system, history in first.items():
      for key, values in history.items():
        if key.endswith(("retrieval_loss", "ranking_loss",
                         "distillation_loss")) and any(values):
          ax.plot(range(1, len(values) + 1), values, marker=".",
                  label=f"{system}: {key}")
    ax.set(xlabel="epoch", ylabel="loss", yscale="log",
           title=f"Training curves (seed {result['seeds'][0]})")

  figure(out / f"{name}_recall.png", recall_curve)
  figure(out / f"{name}_losses.png", losses)
  sweeps = []
  if result.get("gamma_sweep"):
    sweeps.append(("test split, one seed", result["gamma_sweep"]))
  if result.get("tuning", {}).get("gamma"):
    sweeps.append(("validation split (tuning)",
                   sorted(result["tuning"]["gamma"], key=lambda r: r["gamma"])))
  if sweeps:
    def sweep(ax):
      for label, rows in sweeps:
        key = next(k for row in rows for k in row
                   if k.startswith("irretrievable@"))
        rows = [r for r in rows if key in r]
        ax.plot([r["gamma"] for r in rows], [r[key] for r in rows],
                marker="o", label=f"LT-TTD, {label}")
      ax.axhline(result["cascade"][key], color="grey", ls="--",
                 label="cascade (test, mean)")
      ax.set(xlabel="gamma (distillation strength)",
             ylabel=f"irretrievable rate ({key})",
             title="Irretrievable relevant items vs distillation")
    figure(out / f"{name}_gamma.png", sweep)
  return written
