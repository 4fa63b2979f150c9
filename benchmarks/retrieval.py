"""ScaNN against BruteForce over a 1,000,000-item catalogue.

Clustered unit vectors (d=64, 2,000 Zipf-sized clusters) stand for a trained
item tower's output; 1,000 queries come from the same distribution. Measured:
index build time, batched QPS, single-query p50/p99 latency, and ScaNN's
recall@100 against the exact top-100. ScaNN runs with the package defaults
(`tfrs_ltttd.retrieval.ScaNNConfig`), plus the alternatives in
`CANDIDATES`, to show how those defaults were chosen.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from benchmarks import common
from tfrs_ltttd.retrieval import ScaNNConfig, build_index

CANDIDATES = [  # (leaves, leaves searched, re-scored, dimensions per block)
    (1000, 50, 1000, 2),
    (1000, 50, 2000, 2),
    (2000, 50, 500, 1),
    (1000, 25, 1000, 1),
    (1000, 50, 2000, 1),
]


def _batched(index, queries, k, batch):
  out = [index(tf.constant(queries[i:i + batch]), k=k)[1].numpy()
         for i in range(0, len(queries), batch)]
  return np.concatenate(out)


def _measure(index, queries, k, batch, singles):
  ids = _batched(index, queries, k, batch)  # also the warm-up
  seconds = common.time_calls(lambda _: _batched(index, queries, k, batch), 3,
                              warmup=0)
  qps = len(queries) / float(np.median(seconds))
  one = [tf.constant(queries[i:i + 1]) for i in range(singles)]
  seconds = common.time_calls(lambda i: index(one[i], k=k), singles)
  return ids, {"qps": qps, **common.percentiles_ms(seconds)}


def run(num_items: int, num_queries: int, dim: int, k: int, seed: int,
        candidates=CANDIDATES) -> dict:
  centres = common.cluster_centres(2000, dim, seed)
  items = common.clustered_vectors(num_items, dim, 2000, seed, centres=centres)
  queries = common.clustered_vectors(num_queries, dim, 2000, seed + 1,
                                     centres=centres)
  singles = min(200, num_queries)
  result = {"machine": common.machine(), "num_items": num_items,
            "num_queries": num_queries, "dim": dim, "k": k}

  start = time.perf_counter()
  brute = build_index(items, kind="bruteforce", k=k)
  bf_build = time.perf_counter() - start
  exact, bf = _measure(brute, queries, k, batch=100, singles=singles)
  result["bruteforce"] = {**bf, "build_s": bf_build}

  def scann_run(config):
    start = time.perf_counter()
    index = build_index(items, kind="scann", k=k, scann=config)
    build = time.perf_counter() - start
    ids, stats = _measure(index, queries, k, batch=num_queries,
                          singles=singles)
    recall = np.mean([len(np.intersect1d(a, e)) / k
                      for a, e in zip(ids, exact)])
    resolved = config.resolve(num_items, k)
    return {**stats, "build_s": build, "recall@100": float(recall),
            "speedup_vs_bruteforce": stats["qps"] / bf["qps"],
            "num_leaves": resolved.num_leaves,
            "num_leaves_to_search": resolved.num_leaves_to_search,
            "num_reordering_candidates": resolved.num_reordering_candidates,
            "dimensions_per_block": resolved.dimensions_per_block}

  result["scann"] = scann_run(ScaNNConfig())  # the package defaults
  result["scann_alternatives"] = [
      scann_run(ScaNNConfig(num_leaves=min(a, num_items),
                            num_leaves_to_search=min(b, a, num_items),
                            num_reordering_candidates=min(c, num_items),
                            dimensions_per_block=d))
      for a, b, c, d in candidates]
  return result


def main(argv=None) -> dict:
  args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
  if args.tiny:
    result = run(2000, 50, 16, 10, args.seed, candidates=[(20, 5, 50, 2)])
  else:
    result = run(1_000_000, 1000, 64, 100, args.seed)
  path = common.write_json(result, args.output, "retrieval")
  s, b = result["scann"], result["bruteforce"]
  print(f"retrieval: ScaNN recall@{result['k']} {s['recall@100']:.4f} at "
        f"{s['speedup_vs_bruteforce']:.0f}x BruteForce batched QPS "
        f"({s['qps']:.0f} vs {b['qps']:.0f}); single query p50 "
        f"{s['p50_ms']:.2f} ms vs {b['p50_ms']:.2f} ms; build "
        f"{s['build_s']:.1f} s. [{result['machine']['cores']} cores, TF "
        f"{result['machine']['tensorflow']}] -> {path}")
  return result


if __name__ == "__main__":
  main()
