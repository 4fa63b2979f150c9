"""README's benchmark tables, written from the JSON results.

`python -m benchmarks.tables` prints the Markdown that README.md holds
between `<!-- benchmark-tables -->` and `<!-- /benchmark-tables -->`;
`--write` replaces that block in README.md (atomically). A test checks that
the README block equals what the committed results give.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Dict, List, Optional

from benchmarks import common
from tfrs_ltttd._io import atomic_path

BEGIN, END = "<!-- benchmark-tables -->", "<!-- /benchmark-tables -->"
README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _load(results: pathlib.Path, name: str) -> Optional[Dict]:
  path = results / f"{name}.json"
  return json.loads(path.read_text()) if path.is_file() else None


def _n(x: float) -> str:
  return f"{x:,.0f}"


def _settings(params: Dict) -> str:
  return ", ".join(f"{k} {v}" for k, v in params.items())


def _retrieval(by_batch: Dict[int, Dict]) -> List[str]:
  batches = sorted(by_batch)
  main = by_batch[max(batches)]
  head = ("| path | " + " | ".join(
      f"batch {b}: q/s | recall@100" for b in batches) + " | settings |")
  lines = [head, "|" + " --- |" * (2 * len(batches) + 2)]

  def row(label, get, settings=""):
    cells = []
    for b in batches:
      got = get(by_batch[b])
      cells += ([_n(got[0]), f"{got[1]:.3f}"] if got else ["-", "-"])
    lines.append(f"| {label} | " + " | ".join(cells) + f" | {settings} |")

  def peer(name):
    def get(r):
      p = r["peers"].get(name, {})
      return (p["qps"], p["recall@100"]) if "qps" in p else None
    return get

  lines.append("| machine sgemm (4096^3, best of numpy / `tf.matmul`) | "
               + " | ".join(f"{by_batch[b]['sgemm_gflops']:.0f} GFLOP/s | "
                            for b in batches) + " | |")
  row("exact: `ExactTopK` (the package's `bruteforce`)",
      lambda r: (r["bruteforce"]["qps"], r["bruteforce"]["recall@100"]),
      "; ".join(f"batch {b}: {by_batch[b]['bruteforce']['flop_fraction']:.0%}"
                " of sgemm" for b in batches))
  row("exact: TFRS `BruteForce`",
      lambda r: (r["tfrs_bruteforce"]["qps"],
                 r["tfrs_bruteforce"]["recall@100"]),
      "; ".join(f"batch {b}: "
                f"{by_batch[b]['tfrs_bruteforce']['flop_fraction']:.0%}"
                for b in batches))
  row("exact: faiss `IndexFlatIP`", peer("faiss_flat"))
  row("**ScaNN, package defaults**",
      lambda r: (r["scann"]["qps"], r["scann"]["recall@100"]),
      _settings(main["scann"]["params"]))
  row("ScaNN, fastest swept setting with recall >= 0.98",
      lambda r: (r["scann_frontier"]["qps"], r["scann_frontier"]["recall@100"]),
      _settings(main["scann_frontier"]["params"]))
  for name, label in (("faiss_hnsw", "faiss HNSW"),
                      ("faiss_ivf_flat", "faiss IVF-Flat"),
                      ("hnswlib", "hnswlib")):
    if "qps" in main["peers"].get(name, {}):
      row(f"{label}, fastest with recall >= 0.98", peer(name),
          _settings(main["peers"][name]["params"]))
  lines.append("")
  for b in batches:
    s = by_batch[b]["scann"]
    peer_part = (f", {s['speedup_vs_best_peer']:.2f}x the best peer "
                 f"({s['best_peer']})" if "best_peer" in s else "")
    lines.append(
        f"At batch {b}, the default ScaNN runs at "
        f"{s['speedup_vs_bruteforce']:.1f}x `ExactTopK` and "
        f"{s['speedup_vs_tfrs_bruteforce']:.1f}x TFRS `BruteForce`"
        f"{peer_part}; single-query p50 {s['p50_ms']:.2f} ms (exact: "
        f"{by_batch[b]['bruteforce']['p50_ms']:.2f} ms).")
  return lines


def _serving(r: Dict) -> List[str]:
  b, load, cost = r["bruteforce"], r["load"], r["history_cost_ms"]
  w = r["without_history"]
  return [
      "| serving_default, K=200 of 1,000,000, 2-layer transformer, top 10 "
      "| p50 ms | p99 ms | retrieve ms | re-rank ms | batched q/s (64) |",
      "| --- | --- | --- | --- | --- | --- |",
      f"| **ScaNN, history of {r['history_length']}** | "
      f"**{r['p50_ms']:.2f}** | {r['p99_ms']:.2f} | "
      f"{r['retrieve_ms']:.2f} | {r['rerank_ms']:.2f} | "
      f"{_n(r['batched_qps'])} |",
      f"| ScaNN, no history | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} | "
      f"{w['retrieve_ms']:.2f} | {w['rerank_ms']:.2f} | "
      f"{_n(w['batched_qps'])} |",
      f"| exact (`ExactTopK`), history | {b['p50_ms']:.2f} | "
      f"{b['p99_ms']:.2f} | {b['retrieve_ms']:.2f} | {b['rerank_ms']:.2f} | "
      f"{_n(b['batched_qps'])} |",
      "",
      f"The history costs {cost['p50_ms']:+.2f} ms at p50 "
      f"({cost['retrieve_ms']:+.2f} ms retrieval, {cost['rerank_ms']:+.2f} "
      f"ms re-ranking). Load test, {load['clients']} client threads for "
      f"{load['seconds']:.0f} s against the loaded SavedModel (ScaNN): "
      f"{_n(load['requests'])} requests, {_n(load['qps'])} queries/s, p50 "
      f"{load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, "
      f"{load['errors']} errors; resident memory {load['rss_mb_start']:,.0f} "
      f"MB after warm-up, {load['rss_mb_end']:,.0f} MB at the end."
      + ("" if "batched_parallel" not in r else
         f" Batches of {r['batched_parallel']['batch_size']} from "
         f"{r['batched_parallel']['callers']} callers side by side: "
         f"{_n(r['batched_parallel']['qps'])} queries/s.")
      + ("" if "batched_qps_by_max_batch" not in r else
         f" The batch of {r['batch_size']} answered in chunks of "
         + ", ".join(f"{size}: {_n(qps)}" for size, qps in
                     r["batched_qps_by_max_batch"].items())
         + " queries/s (`Recommender.max_batch`).")
      + ("" if "threads" not in r else
         f" Intra-op threads: {r['threads']['intra_op'] or 'one per core'}."),
  ] + ([] if "rerank_flops_per_query" not in r else [
      "",
      f"Re-ranking does {r['rerank_flops_per_query'] / 1e6:.1f} MFLOP of "
      f"matmuls per query (the `rank` signature, K={r['num_candidates']}); "
      f"batched ({r['batch_size']} queries) it runs at "
      f"{_n(r['rerank_batched_qps'])} queries/s, "
      f"{r['rerank_flop_fraction']:.0%} of the machine's sgemm rate "
      f"({r['sgemm_gflops']:.0f} GFLOP/s, measured in the same run)."] + [
          f"One request of {_n(x['queries'])} queries (BruteForce export, a "
          f"fresh process): peak resident memory {x['peak_rss_mb']:,.0f} "
          f"MB, {x['errors']} errors"
          + (f" ({x['error']})" if x["error"] else "") + "."
          for x in (r[key] for key in ("large_batch", "largest_batch")
                    if key in r)])


def _training(r: Dict) -> List[str]:
  return [
      f"| training, lists of {r['list_size']}, {r['epochs']} epochs, "
      f"{_n(r['num_lists_per_epoch'])} lists/epoch | examples/s | seconds |",
      "| --- | --- | --- |",
      f"| **LT-TTD** (joint, history) | {_n(r['ltttd_examples_per_s'])} | "
      f"{r['ltttd_seconds']:.1f} |",
      f"| cascade (L1 {r['cascade_stage_seconds']['l1']:.1f} s + L2 "
      f"{r['cascade_stage_seconds']['l2']:.1f} s) | "
      f"{_n(r['cascade_examples_per_s'])} | {r['cascade_seconds']:.1f} |",
      f"| plain TFRS two-tower (the floor; pairs) | "
      f"{_n(r['two_tower_examples_per_s'])} | {r['two_tower_seconds']:.1f} |",
      "",
      f"LT-TTD takes **{r['ltttd_over_cascade_time']:.2f}x** the cascade's "
      "time (target <= 1.2x).",
  ]


def markdown(results: pathlib.Path = common.RESULTS) -> str:
  """The tables for the results in `results`."""
  out: List[str] = []
  by_batch = {}
  for name in ("retrieval", "retrieval-batch100"):
    r = _load(results, name)
    if r:
      by_batch[r["batch"]] = r
  if by_batch:
    out += _retrieval(by_batch) + [""]
  for name, table in (("serving", _serving), ("training", _training)):
    r = _load(results, name)
    if r:
      out += table(r) + [""]
  return "\n".join(out).rstrip() + "\n"


def readme_block(text: str) -> str:
  """The tables block of a README's text."""
  try:
    start = text.index(BEGIN) + len(BEGIN) + 1
    return text[start:text.index(END)]
  except ValueError as e:
    raise ValueError(f"README.md has no {BEGIN} ... {END} block.") from e


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--write", action="store_true",
                 help="replace the block in README.md")
  args = p.parse_args(argv)
  tables = markdown()
  if not args.write:
    print(tables, end="")
    return 0
  text = README.read_text()
  old = readme_block(text)
  new_text = text.replace(f"{BEGIN}\n{old}{END}", f"{BEGIN}\n{tables}{END}")
  with atomic_path(README) as tmp:
    tmp.write_text(new_text)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
