"""Retrieval over a 1,000,000-item catalogue: exact, ScaNN and their peers.

Clustered unit vectors (d=64, 2,000 Zipf-sized clusters) stand for a trained
item tower's output; 1,000 queries come from the same distribution; top-100.
Every path runs in the same process, one after the other, at the same batch
size (`--batch`, default all 1,000 queries at once), QPS being the median of
3 timed passes after a warm-up pass:

- the machine's limit: sgemm GFLOP/s (4096^3, numpy and `tf.matmul`, the
  better median of 5), and each exact path's fraction of it
  (`2 N d` flops per query);
- exact: the package's `bruteforce` index (`ExactTopK`), TFRS's
  `BruteForce`, and faiss `IndexFlatIP`; the package's ids are checked
  against numpy's exact top-k;
- ScaNN: the package defaults (`ScaNNConfig`, through `build_index`) and a
  recall-vs-QPS frontier over index settings (`scann_ops`, the same TF op);
- peers (benchmark-only extras: `pip install .[bench]`; skipped, with the
  reason in the JSON, when absent): faiss HNSW, faiss IVF-Flat and hnswlib,
  each swept over its search-time knob.

Each approximate method reports its frontier and, as `qps`/`recall@100`,
its fastest point with recall@100 >= 0.98 (or its best recall if it never
gets there). Single-query p50/p99 are timed for the package's two indexes.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from benchmarks import common
from tfrs_ltttd.retrieval import ScaNNConfig, build_index

TARGET_RECALL = 0.98


def sgemm_gflops(n: int = 4096, repeats: int = 5) -> Dict[str, float]:
  """The machine's single-precision matmul rate, numpy and TensorFlow."""
  a = np.random.default_rng(0).random((n, n), dtype=np.float32)
  flops = 2 * n ** 3
  out = {}
  x = tf.constant(a)
  for name, fn in [("numpy", lambda: a @ a),
                   ("tensorflow", lambda: tf.matmul(x, x).numpy())]:
    seconds = common.time_calls(lambda _, fn=fn: fn(), repeats, warmup=1)
    out[name] = flops / float(np.median(seconds)) / 1e9
  out["best"] = max(out.values())
  return out


def exact_top_k(items: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
  """numpy's exact top-k ids (stable among ties), 100 queries at a time."""
  out = []
  for i in range(0, len(queries), 100):
    s = queries[i:i + 100] @ items.T
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, 1), 1, kind="stable")
    out.append(np.take_along_axis(part, order, 1))
  return np.concatenate(out)


def _recall(ids: np.ndarray, exact: np.ndarray) -> float:
  k = exact.shape[1]
  return float(np.mean([len(np.intersect1d(a, e)) / k
                        for a, e in zip(ids, exact)]))


def _rank_score_error(items, queries, ids, exact) -> float:
  """Largest gap, over queries and ranks, between the numpy score of the
  r-th returned item and numpy's r-th best score: 0 up to float rounding
  when the returned items are an exact top-k (near-ties may swap)."""
  worst = 0.0
  for i in range(0, len(queries), 100):
    q = queries[i:i + 100]
    ours = np.einsum("bd,bkd->bk", q, items[ids[i:i + 100]])
    best = np.einsum("bd,bkd->bk", q, items[exact[i:i + 100]])
    worst = max(worst, float(np.abs(-np.sort(-ours, 1)
                                    - -np.sort(-best, 1)).max()))
  return worst


def _throughput(search: Callable[[np.ndarray], np.ndarray],
                queries: np.ndarray, batch: int):
  """(ids of every query, queries/s): median of 3 passes after a warm-up."""
  def one_pass(_):
    return np.concatenate([np.asarray(search(queries[i:i + batch]))
                           for i in range(0, len(queries), batch)])
  ids = one_pass(0)
  seconds = common.time_calls(one_pass, 3, warmup=0)
  return ids, len(queries) / float(np.median(seconds))


def _single_latency(search, queries, count: int) -> Dict[str, float]:
  one = [queries[i:i + 1] for i in range(min(count, len(queries)))]
  return common.percentiles_ms(common.time_calls(
      lambda i: search(one[i]), len(one)))


def _tf_search(index, k):
  fn = tf.function(lambda q: index(q, k=k)[1])
  return lambda q: fn(tf.constant(q)).numpy()


def _summary(points: List[dict], batch: int) -> dict:
  """Fastest point with recall >= the target (else the best recall)."""
  good = [p for p in points if p["recall@100"] >= TARGET_RECALL]
  best = (max(good, key=lambda p: p["qps"]) if good
          else max(points, key=lambda p: p["recall@100"]))
  pareto = sorted(p for p in ((q["recall@100"], q["qps"]) for q in points))
  frontier, top = [], -1.0
  for recall, qps in reversed(pareto):
    if qps > top:
      frontier.append({"recall@100": recall, "qps": qps})
      top = qps
  return {"qps": best["qps"], "recall@100": best["recall@100"],
          "params": best["params"], "batch": batch,
          "reaches_target": bool(good), "points": points,
          "frontier": frontier[::-1]}


def _peers(items, queries, exact, k, batch, sweep) -> Dict[str, dict]:
  out = {}
  try:
    import faiss  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    for name in ("faiss_flat", "faiss_hnsw", "faiss_ivf_flat"):
      out[name] = {"skipped": f"faiss not installed ({e}); "
                              f"pip install .[bench]"}
  else:
    faiss.omp_set_num_threads(common.cores())
    dim = items.shape[1]
    flat = faiss.IndexFlatIP(dim)
    flat.add(items)
    ids, qps = _throughput(lambda q: flat.search(q, k)[1], queries, batch)
    out["faiss_flat"] = {"qps": qps, "recall@100": _recall(ids, exact),
                         "batch": batch, "params": {}}
    del flat
    m = sweep["hnsw_m"]
    start = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = sweep["ef_construction"]
    hnsw.add(items)
    build = time.perf_counter() - start
    points = []
    for ef in sweep["ef"]:
      hnsw.hnsw.efSearch = max(ef, k)
      ids, qps = _throughput(lambda q: hnsw.search(q, k)[1], queries, batch)
      points.append({"qps": qps, "recall@100": _recall(ids, exact),
                     "params": {"M": m, "efConstruction":
                                sweep["ef_construction"], "efSearch":
                                max(ef, k)}})
    out["faiss_hnsw"] = {**_summary(points, batch), "build_s": build}
    del hnsw
    start = time.perf_counter()
    nlist = sweep["nlist"]
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist,
                             faiss.METRIC_INNER_PRODUCT)
    ivf.train(items[np.random.default_rng(0).permutation(len(items))[
        :min(len(items), 100 * nlist)]])
    ivf.add(items)
    build = time.perf_counter() - start
    points = []
    for nprobe in sweep["nprobe"]:
      ivf.nprobe = nprobe
      ids, qps = _throughput(lambda q: ivf.search(q, k)[1], queries, batch)
      points.append({"qps": qps, "recall@100": _recall(ids, exact),
                     "params": {"nlist": nlist, "nprobe": nprobe}})
    out["faiss_ivf_flat"] = {**_summary(points, batch), "build_s": build}
    del ivf
  try:
    import hnswlib  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    out["hnswlib"] = {"skipped": f"hnswlib not installed ({e}); "
                                 f"pip install .[bench]"}
  else:
    m = sweep["hnsw_m"]
    start = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=items.shape[1])
    index.init_index(max_elements=len(items), M=m,
                     ef_construction=sweep["ef_construction"], random_seed=0)
    index.add_items(items, num_threads=common.cores())
    build = time.perf_counter() - start
    points = []
    for ef in sweep["ef"]:
      index.set_ef(max(ef, k))
      ids, qps = _throughput(
          lambda q: index.knn_query(q, k=k, num_threads=common.cores())[0],
          queries, batch)
      points.append({"qps": qps, "recall@100": _recall(ids, exact),
                     "params": {"M": m, "ef_construction":
                                sweep["ef_construction"], "ef": max(ef, k)}})
    out["hnswlib"] = {**_summary(points, batch), "build_s": build}
  return out


def _scann_frontier(items, queries, exact, k, batch, sweep) -> dict:
  """ScaNN's frontier: a few builds, each swept over its search knobs."""
  from scann.scann_ops.py import scann_ops  # pylint: disable=g-import-not-at-top
  points = []
  for leaves, threshold, spherical in sweep["scann_builds"]:
    leaves = min(leaves, len(items))
    start = time.perf_counter()
    searcher = (scann_ops.builder(items, k, "dot_product")
                .tree(leaves, 1, training_sample_size=250_000,
                      spherical=spherical)
                .score_ah(1, anisotropic_quantization_threshold=(
                    float("nan") if threshold is None else threshold),
                          training_sample_size=250_000)
                .reorder(max(sweep["scann_reorder"])).build())
    build = time.perf_counter() - start
    for search in sweep["scann_search"]:
      for reorder in sweep["scann_reorder"]:
        fn = tf.function(lambda q, s=search, r=reorder, sr=searcher:
                         sr.search_batched_parallel(q, k, r, s)[0])
        ids, qps = _throughput(lambda q, fn=fn: fn(tf.constant(q)).numpy(),
                               queries, batch)
        points.append({"qps": qps, "recall@100": _recall(ids, exact),
                       "params": {"num_leaves": leaves,
                                  "num_leaves_to_search": min(search, leaves),
                                  "num_reordering_candidates": reorder,
                                  "anisotropic_quantization_threshold":
                                      threshold, "spherical": spherical,
                                  "dimensions_per_block": 1},
                       "build_s": build})
    del searcher
  return _summary(points, batch)


def run(num_items: int, num_queries: int, dim: int, k: int, batch: int,
        seed: int, sweep: dict, singles: int = 200) -> dict:
  centres = common.cluster_centres(2000, dim, seed)
  items = common.clustered_vectors(num_items, dim, 2000, seed, centres=centres)
  queries = common.clustered_vectors(num_queries, dim, 2000, seed + 1,
                                     centres=centres)
  batch = min(batch, num_queries)
  result = {"machine": common.machine(), "num_items": num_items,
            "num_queries": num_queries, "dim": dim, "k": k, "batch": batch,
            "target_recall@100": TARGET_RECALL}
  sgemm = sgemm_gflops()
  result["sgemm_gflops"] = sgemm["best"]
  result["sgemm_gflops_by_library"] = {n: sgemm[n]
                                       for n in ("numpy", "tensorflow")}
  flops_per_query = 2.0 * num_items * dim
  exact = exact_top_k(items, queries, k)

  def exact_path(index):
    search = _tf_search(index, k)
    ids, qps = _throughput(search, queries, batch)
    return search, ids, {"qps": qps, "batch": batch, "flop_fraction":
                         qps * flops_per_query / (sgemm["best"] * 1e9)}

  start = time.perf_counter()
  index = build_index(items, kind="bruteforce", k=k, batch_size=batch)
  build = time.perf_counter() - start
  search, ids, stats = exact_path(index)
  result["bruteforce"] = {
      **stats, **_single_latency(search, queries, singles), "build_s": build,
      "index": "ExactTopK", "chunk_size": index._chunk,  # pylint: disable=protected-access
      "recall@100": _recall(ids, exact),
      "max_rank_score_error": _rank_score_error(items, queries, ids, exact)}
  del index
  tfrs_index = tfrs.layers.factorized_top_k.BruteForce(k=k).index(
      tf.constant(items), tf.range(num_items))
  _, ids, stats = exact_path(tfrs_index)
  result["tfrs_bruteforce"] = {**stats, "recall@100": _recall(ids, exact)}
  del tfrs_index

  start = time.perf_counter()
  index = build_index(items, kind="scann", k=k)
  build = time.perf_counter() - start
  search = _tf_search(index, k)
  ids, qps = _throughput(search, queries, batch)
  resolved = ScaNNConfig().resolve(num_items, k)
  result["scann"] = {
      "qps": qps, "recall@100": _recall(ids, exact), "batch": batch,
      "build_s": build, **_single_latency(search, queries, singles),
      "speedup_vs_bruteforce": qps / result["bruteforce"]["qps"],
      "speedup_vs_tfrs_bruteforce": qps / result["tfrs_bruteforce"]["qps"],
      "params": {f: getattr(resolved, f) for f in (
          "num_leaves", "num_leaves_to_search", "num_reordering_candidates",
          "dimensions_per_block", "anisotropic_quantization_threshold",
          "spherical")}}
  del index
  result["scann_frontier"] = _scann_frontier(items, queries, exact, k, batch,
                                             sweep)
  peers = _peers(items, queries, exact, k, batch, sweep)
  result["peers"] = peers
  if "qps" in peers.get("faiss_flat", {}):
    peers["faiss_flat"]["flop_fraction"] = (
        peers["faiss_flat"]["qps"] * flops_per_query / (sgemm["best"] * 1e9))
  ann = {n: p for n, p in peers.items() if n != "faiss_flat" and "qps" in p
         and p["reaches_target"]}
  if ann:
    name = max(ann, key=lambda n: ann[n]["qps"])
    result["scann"]["best_peer"] = name
    result["scann"]["speedup_vs_best_peer"] = qps / ann[name]["qps"]
  return result


SWEEP = {
    # (leaves, anisotropic threshold, spherical): the defaults, the TFRS
    # layer's kind of index, and twice the leaves.
    "scann_builds": [(1000, 0.2, True), (1000, None, False),
                     (2000, 0.2, True)],
    "scann_search": [20, 30, 40, 60, 100],
    "scann_reorder": [200, 300, 500, 1000],
    "hnsw_m": 32, "ef_construction": 80, "ef": [100, 150, 250, 400, 700],
    "nlist": 2000, "nprobe": [10, 20, 40, 80, 160],
}
TINY_SWEEP = {
    "scann_builds": [(20, 0.2, True)], "scann_search": [5],
    "scann_reorder": [50],
    "hnsw_m": 8, "ef_construction": 20, "ef": [20], "nlist": 20,
    "nprobe": [5],
}


def main(argv=None) -> dict:
  p = common.parser(__doc__.splitlines()[0])
  p.add_argument("--batch", type=int, default=1000,
                 help="queries per call, the same for every path (other "
                 "than 1000: written to retrieval-batchN.json)")
  args = p.parse_args(argv)
  if args.tiny:
    result = run(2000, 50, 16, 10, args.batch, args.seed, TINY_SWEEP,
                 singles=10)
  else:
    result = run(1_000_000, 1000, 64, 100, args.batch, args.seed, SWEEP)
  name = "retrieval" if args.batch == 1000 else f"retrieval-batch{args.batch}"
  path = common.write_json(result, args.output, name)
  s, b = result["scann"], result["bruteforce"]
  peer = (f"; {s['speedup_vs_best_peer']:.2f}x the best peer "
          f"({s['best_peer']})" if "best_peer" in s else "")
  print(f"retrieval (batch {result['batch']}): ScaNN recall@{result['k']} "
        f"{s['recall@100']:.4f} at {s['qps']:.0f} q/s = "
        f"{s['speedup_vs_bruteforce']:.1f}x the exact index "
        f"({b['qps']:.0f} q/s, {b['flop_fraction']:.0%} of sgemm "
        f"{result['sgemm_gflops']:.0f} GFLOP/s), "
        f"{s['speedup_vs_tfrs_bruteforce']:.1f}x TFRS BruteForce{peer}. "
        f"[{result['machine']['cores']} cores, TF "
        f"{result['machine']['tensorflow']}] -> {path}")
  return result


if __name__ == "__main__":
  main()
