"""The report of `compare`: a Markdown table, JSON and PNG plots.

`markdown` renders the comparison (each system, its towers' own order and
the re-ranker's lift, the baselines, the gamma curve); `write_report` writes
JSON, Markdown and the plots, each atomically (`tfrs_ltttd._io`).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Dict, List


from tfrs_ltttd._io import atomic_path
from tfrs_ltttd.evaluation import lifts
from tfrs_ltttd.experiments.compare import HEADLINE, RECALL_KS
from tfrs_ltttd.training.systems import RERANKER_EPOCHS, SYSTEM_NAMES, SYSTEMS


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


def lift_line(result: Dict[str, Any]) -> str:
  """Each system's served list over its towers' own order, and the
  re-ranker's own part: the served list over the same list without the
  re-ranker's correction (`evaluation.lifts`)."""
  gains = {s: lifts(result[s]) for s in SYSTEMS}
  with_term = any(result[s].get("item_item_weight") for s in SYSTEMS)
  line = ("Served list's lift over its own towers' order (NDCG@10"
          + (", the item-item term included" if with_term else "") + "): "
          + ", ".join(
              f"{SYSTEM_NAMES[s]} {gains[s]['served']:+.1%}" for s in SYSTEMS)
          + ".")
  if all("reranker" in g for g in gains.values()):
    line += (" The re-ranker's own lift (the served list against the same "
             "list with its correction weight at 0): " + ", ".join(
                 f"{SYSTEM_NAMES[s]} {gains[s]['reranker']:+.1%}"
                 for s in SYSTEMS) + ".")
  return line


def correction_line(result: Dict[str, Any]) -> str:
  """Which weight of its re-ranker's correction each system serves, and
  why: the validation NDCG@10 at every weight tried."""
  parts = []
  searched = result.get("tuning", {}).get("correction_weights", {})
  for system in SYSTEMS:
    text = f"{SYSTEM_NAMES[system]} {result[system]['correction_weight']:g}"
    if system in searched:
      text += " (validation NDCG@10 " + ", ".join(
          f"{v:.4f} at {w}" for w, v in
          searched[system]["ndcg@10_by_correction_weight"].items()) + ")"
    parts.append(text)
  return ("Re-ranker correction served (score = towers + weight x correction; "
          "0 serves the towers' order; chosen on validation): "
          + "; ".join(parts) + ".")


def item_item_line(result: Dict[str, Any]) -> str:
  """Which weight of the item-item term each system serves, and why."""
  parts = []
  searched = result.get("tuning", {}).get("item_item_weights", {})
  for system in SYSTEMS:
    text = f"{SYSTEM_NAMES[system]} {result[system]['item_item_weight']:g}"
    if system in searched:
      text += " (validation NDCG@10, each at its best correction weight, " + (
          ", ".join(f"{v:.4f} at {w}" for w, v in
                    searched[system]["ndcg@10_by_item_item_weight"].items())
          + ")")
    parts.append(text)
  return ("Item-item term served (score + weight x the summed EASE weights "
          "the user's history gives the candidate, scaled to the spread of "
          "the towers' scores in the list; chosen on validation): "
          + "; ".join(parts) + ".")


def system_line(result: Dict[str, Any]) -> str:
  """Which system the tool serves on this data, and why: both systems'
  validation scores (`tuning.choose_settings`, stage 5)."""
  tuned = result["tuning"]
  scores = ", ".join(f"{SYSTEM_NAMES[s]} {tuned['systems'][s]:.4f}"
                     for s in SYSTEM_NAMES)
  return ("System served on this data: "
          f"{SYSTEM_NAMES[tuned['chosen']['system']]} "
          f"(validation score {scores}; the cascade only where it scores "
          "higher than LT-TTD).")


# How the report names each system's re-ranker stage on its frozen towers.
RERANKER_STAGES = {
    "cascade": "the cascade's re-ranker stage",
    "ltttd": "LT-TTD's closing stage (its re-ranker alone on its final "
             "towers' lists; 0: none)"}


def reranker_epochs_line(result: Dict[str, Any], system: str) -> str:
  """How many epochs `system`'s re-ranker stage trained, and why: the
  validation score after each epoch of that stage (`tuning.choose_settings`,
  stage 4), or the value given on the command line."""
  setting, stage = RERANKER_EPOCHS[system], RERANKER_STAGES[system]
  tuned = result["tuning"]
  best = tuned["chosen"][setting]
  used = result["train_config"].get(setting, best)
  why = ("its best on validation" if used == best
         else f"as given (best on validation: {best})")
  return (f"Epochs of {stage}: {used}, {why} (score by epoch: "
          + ", ".join(f"{row['epoch']} {row['quality']:.4f}"
                      for row in tuned[setting])
          + "; the first of ties).")


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
    lines += ["", lift_line(result)]
  if "correction_weight" in result["ltttd"]:
    lines += ["", correction_line(result)]
  if result["ltttd"].get("item_item_weight") or result.get(
      "tuning", {}).get("item_item_weights"):
    lines += ["", item_item_line(result)]
  if "ease" in result and "l2" in result["ease"]:
    lines += ["", f"EASE lambda {result['ease']['l2']:g}, chosen on the "
              "validation split."]
  if result.get("tuning"):
    chosen = result["tuning"]["chosen"]
    lines += ["", "Settings chosen on a validation split cut from train "
              f"(score {result['tuning']['score']}): "
              + ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else
                          f"{k} {v}" for k, v in chosen.items()
                          if k not in ("correction_weight",
                                       "item_item_weight", "system")) + "."]
    if "systems" in result["tuning"]:
      lines += ["", system_line(result)]
    for system in RERANKER_STAGES:
      if result["tuning"].get(RERANKER_EPOCHS[system]):
        lines += ["", reranker_epochs_line(result, system)]
    if result["tuning"].get("note"):
      lines += ["", result["tuning"]["note"]]
    trials = result["tuning"].get("trials", [])
    if trials:
      names = list(trials[0]["params"])
      lines += ["", f"Settings tried on validation (seed "
                f"{result['tuning']['seed']}, best epoch of each):", "",
                "| " + " | ".join(names) + " | epochs run | best epoch | "
                "score |", "| --- |" + " --- |" * (len(names) + 2)]
      for trial in trials:
        lines.append("| " + " | ".join(f"{trial['params'][n]:g}"
                                       for n in names)
                     + f" | {len(trial['curve'])}"
                     + (" (pruned)" if trial["pruned"] else "")
                     + f" | {trial['epochs']} | {trial['quality']:.4f} |")
    curve = result["tuning"].get("gamma", [])
    if curve:
      key = next(k for row in curve for k in row
                 if k.startswith("irretrievable@"))
      recall = "recall@" + key.split("@")[1]

      def num(row, name):
        return f"{row[name]:.4f}" if name in row else "n/a"

      lines += ["", "Distillation strength on validation (LT-TTD, seed "
                f"{result['tuning']['seed']}, chosen epochs; teacher: the "
                "transformer plus this weight times the item-item term, "
                "distilled over the list and the in-batch items when above "
                "0; served: at the run's best weights):", "",
                f"| gamma | teacher | {key} | {recall} | towers' ndcg@10 | "
                "served ndcg@10 | score |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
      for row in sorted(curve, key=lambda r: (
          r["gamma"], r.get("teacher_item_item_weight", 0.0))):
        lines.append(f"| {row['gamma']:g} | "
                     f"{row.get('teacher_item_item_weight', 0.0):g} | "
                     f"{num(row, key)} | {num(row, recall)} | "
                     f"{num(row, 'ndcg@10_two_tower')} | "
                     f"{num(row, 'ndcg@10_served')} | "
                     f"{num(row, 'quality')} |")
  if "wall_s" in result:
    search = result.get("tuning", {}).get("wall_s")
    lines += ["", f"Whole run (data, search, {len(result['seeds'])} seeds of "
              f"both systems, baselines): {result['wall_s']:.0f} s"
              + (f", of which the search {search:.0f} s." if search
                 else ".")]
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
    with atomic_path(path) as tmp:
      write(tmp)
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
  tuned = result.get("tuning", {}).get("gamma", [])
  teachers = sorted({r.get("teacher_item_item_weight", 0.0) for r in tuned
                     if r["gamma"]})
  for teacher in teachers:  # each teacher's curve starts at gamma 0
    sweeps.append(("validation split (tuning)" + (
        f", teacher + {teacher:g} x item-item" if teacher else ""),
        sorted((r for r in tuned if not r["gamma"]
                or r.get("teacher_item_item_weight", 0.0) == teacher),
               key=lambda r: r["gamma"])))
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
