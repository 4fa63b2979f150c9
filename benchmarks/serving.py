"""Latency and throughput of the exported SavedModel's `serving_default`.

A request carries the user's features and last 50 interactions (history);
the model retrieves K=200 from a 1,000,000-item catalogue, re-ranks them with
a 2-layer transformer that cross-attends to the history, and returns the top
10. Measured on the loaded SavedModel: single-request p50/p99, batched
throughput, the split of a request's time between retrieval (`retrieve`
signature) and re-ranking (`rank` on 200 candidates), for the ScaNN and the
BruteForce exports; what the history costs (the same model without history);
a load test: 8 client threads sending single requests for 60 s
(throughput, p50/p99, errors, resident memory at the start and the end); the
`rank` signature's matmul FLOPs per query and, at the batched throughput of
`rank`, their share of the machine's sgemm rate measured in the same run
(`rerank_flop_fraction`); batches of 64 from one caller per core side by
side (`batched_parallel`, as the model server's batch threads run them);
batched throughput in this process with the request answered in chunks of
64, 32 and 16 queries (`batched_qps_by_max_batch`, the `Recommender`'s
`max_batch`); and one request of thousands of queries to the BruteForce
export in a fresh process (`large_batch`, 5,000 queries, and
`largest_batch`, 20,000: the process's peak resident memory, or the error;
the export answers more than `Recommender.max_batch` queries in chunks).
Model weights do not change the cost, so the towers are untrained; the
catalogue is clustered unit vectors as in the retrieval benchmark, encoded
"offline" and handed to the `Recommender`.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import tempfile
import threading
import time
from typing import Tuple

import numpy as np
import tensorflow as tf

from benchmarks import common
from benchmarks.retrieval import sgemm_gflops
from tfrs_ltttd import LTTTDModel, ModelConfig
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.serving import Recommender, export


def _query(data, rows, history_length):
  return {k: tf.constant(v) for k, v in
          serving_query(data, np.asarray(rows), history_length).items()}


def rss_mb(field: str = "VmRSS") -> float:
  """Resident memory of this process, MB (Linux): now (`VmRSS`) or its
  peak (`VmHWM`)."""
  for line in open("/proc/self/status", encoding="ascii"):
    if line.startswith(field + ":"):
      return int(line.split()[1]) / 1024
  return float("nan")


def load_test(serve, requests, clients: int, seconds: float) -> dict:
  """`clients` threads call `serve(**request)` back to back for `seconds`.

  Returns throughput, latency percentiles, the number of failed calls and
  resident memory (MB) after a warm-up and at the end.
  """
  for request in requests[:clients]:
    serve(**request)["item_ids"].numpy()
  start_rss = rss_mb()
  latencies, errors, lock = [], [], threading.Lock()
  stop = time.perf_counter() + seconds

  def client(seed):
    rng = np.random.default_rng(seed)
    mine, failed = [], []
    while time.perf_counter() < stop:
      request = requests[rng.integers(len(requests))]
      t = time.perf_counter()
      try:
        serve(**request)["item_ids"].numpy()
        mine.append(time.perf_counter() - t)
      except Exception as e:  # pylint: disable=broad-except
        failed.append(repr(e))
    with lock:
      latencies.extend(mine)
      errors.extend(failed)

  threads = [threading.Thread(target=client, args=(i,))
             for i in range(clients)]
  began = time.perf_counter()
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  elapsed = time.perf_counter() - began
  return {"clients": clients, "seconds": elapsed,
          "requests": len(latencies) + len(errors),
          "qps": len(latencies) / elapsed, **common.percentiles_ms(latencies),
          "errors": len(errors), "first_error": errors[0] if errors else None,
          "rss_mb_start": start_rss, "rss_mb_end": rss_mb()}


def parallel_qps(serve, request, callers: int, calls: int) -> float:
  """Queries/s of `callers` threads each sending `request` `calls` times:
  the model server's `num_batch_threads` batches run side by side."""
  size = len(next(iter(request.values())))
  def caller():
    for _ in range(calls):
      serve(**request)["item_ids"].numpy()
  threads = [threading.Thread(target=caller) for _ in range(callers)]
  began = time.perf_counter()
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  return callers * calls * size / (time.perf_counter() - began)


def qps_by_max_batch(recommender, request, sizes, repeats: int = 10
                     ) -> dict:
  """Queries/s of one batched `request` through `recommend` with the
  recommender's chunk size (`Recommender.max_batch`) set to each of
  `sizes`, traced in this process; the calls of the sizes alternate, so
  that a busy moment of the machine falls on all of them alike. A smaller
  chunk keeps the attention scores of a chunk (`heads x K x K` floats per
  query and layer) in the processor's caches; the answers are the same."""
  size = len(next(iter(request.values())))
  default = recommender.max_batch
  serves = {}
  for chunk in sizes:
    recommender.max_batch = chunk  # read when `recommend` is traced
    serves[chunk] = recommender.signatures()["serving_default"]
  recommender.max_batch = default
  seconds = {chunk: common.time_calls(  # warm-up only
      lambda i, s=serve: s(**request)["item_ids"].numpy(), 0)
             for chunk, serve in serves.items()}
  for _ in range(repeats):
    for chunk, serve in serves.items():
      seconds[chunk] += common.time_calls(
          lambda i, s=serve: s(**request)["item_ids"].numpy(), 1, warmup=0)
  return {str(chunk): size / float(np.median(seconds[chunk]))
          for chunk in sizes}


def _data(seed: int):
  return synthetic.generate(synthetic.SyntheticConfig(
      num_users=500, num_items=300, seed=seed))


def rank_flops(recommender, data, history_length: int) -> int:
  """Matmul FLOPs of one query through `Recommender.rank` (query tower and
  re-ranker over `num_candidates`), traced at batch 1."""
  query = _query(data, [0], history_length)
  specs = {name: tf.TensorSpec(value.shape, value.dtype)
           for name, value in query.items()}
  ids = tf.TensorSpec([1, recommender.num_candidates], tf.int64)
  rank = tf.function(recommender.rank)
  return common.matmul_flops(rank.get_concrete_function(specs, ids))


def _large_request(export_dir: str, queries: int, seed: int,
                   history_length: int, out) -> None:
  """In a fresh process: one `serving_default` request of `queries`
  queries; puts `{"peak_rss_mb", "errors", "error"}` on `out`."""
  loaded = tf.saved_model.load(export_dir)
  data = _data(seed)
  rows = np.random.default_rng(seed).integers(0, data.num_users, queries)
  error = None
  try:
    loaded.signatures["serving_default"](
        **_query(data, rows, history_length))["item_ids"].numpy()
  except Exception as e:  # pylint: disable=broad-except
    error = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
  # The process's own high-water mark: `ru_maxrss` would also count the
  # parent's, whose pages the child held between fork and exec.
  peak = rss_mb("VmHWM")
  out.put({"peak_rss_mb": peak, "errors": int(error is not None),
           "error": error})


def large_batch(export_dir: str, queries: int, seed: int,
                history_length: int) -> dict:
  """`_large_request` in a fresh process (so that its peak memory is the
  request's alone); a process killed for memory counts as an error."""
  context = multiprocessing.get_context("spawn")
  out = context.Queue()
  child = context.Process(target=_large_request, args=(
      export_dir, queries, seed, history_length, out))
  child.start()
  child.join()
  result = (out.get() if child.exitcode == 0 else
            {"peak_rss_mb": float("nan"), "errors": 1,
             "error": f"the process ended with code {child.exitcode}"})
  return {"queries": queries, **result}


def run(num_items: int, num_candidates: int, k: int, dim: int,
        requests: int, batch: int, seed: int, clients: int = 8,
        load_seconds: float = 60.0, large: Tuple[int, int] = (5000, 20000)
        ) -> dict:
  data = _data(seed)
  config = ModelConfig(output_dim=dim, num_layers=2, num_heads=4, width=64)
  tf.keras.utils.set_random_seed(seed)
  model = LTTTDModel.from_data(data, config)
  tf.keras.utils.set_random_seed(seed)
  no_history = LTTTDModel.from_data(data, dataclasses.replace(
      config, history_length=0))
  centres = common.cluster_centres(2000, dim, seed)
  embeddings = common.clustered_vectors(num_items, dim, 2000, seed,
                                        centres=centres)
  rng = np.random.default_rng(seed)
  residuals = rng.normal(size=(num_items, model.item_tower.residual_dim))
  ids = np.arange(num_items, dtype=np.int64)
  result = {"machine": common.machine(), "num_items": num_items,
            "num_candidates": num_candidates, "k": k, "transformer_layers": 2,
            "history_length": config.history_length}
  rows = rng.integers(0, data.num_users, requests)
  with tempfile.TemporaryDirectory() as tmp:
    for kind, m in (("scann", model), ("bruteforce", model),
                    ("scann_no_history", no_history)):
      recommender = Recommender(m, catalogue=(ids, embeddings, residuals),
                                index=kind.split("_")[0],
                                num_candidates=num_candidates, k=k)
      path = str(export(recommender, tmp, kind))
      loaded = tf.saved_model.load(path)
      serve = loaded.signatures["serving_default"]
      retrieve, rank = loaded.signatures["retrieve"], loaded.signatures["rank"]
      singles = [_query(data, rows[i:i + 1], m.query_tower.history_length)
                 for i in range(requests)]
      pool = min(50, requests)
      candidates = [retrieve(**q)["item_ids"] for q in singles[:pool]]
      one = common.time_calls(
          lambda i: serve(**singles[i])["item_ids"].numpy(), requests)
      ret = common.time_calls(
          lambda i: retrieve(**singles[i])["item_ids"].numpy(), requests)
      rer = common.time_calls(
          lambda i: rank(**singles[i % pool],
                         candidate_ids=candidates[i % pool])["scores"].numpy(),
          requests)
      batched = _query(data, rows[:batch], m.query_tower.history_length)
      seconds = common.time_calls(
          lambda i: serve(**batched)["item_ids"].numpy(), 10)
      stats = {**common.percentiles_ms(one),
               "batched_qps": batch / float(np.median(seconds)),
               "batch_size": batch,
               "retrieve_ms": float(np.median(ret) * 1000),
               "rerank_ms": float(np.median(rer) * 1000)}
      if kind == "scann":
        result.update(stats)
        result["load"] = load_test(serve, singles, clients, load_seconds)
        cores = common.machine()["cores"]
        result["batched_parallel"] = {
            "callers": cores, "batch_size": batch,
            "qps": parallel_qps(serve, batched, cores, 10)}
        lists = retrieve(**batched)["item_ids"]
        seconds = common.time_calls(
            lambda i: rank(**batched, candidate_ids=lists)["scores"].numpy(),
            10)
        result["rerank_batched_qps"] = batch / float(np.median(seconds))
        result["batched_qps_by_max_batch"] = qps_by_max_batch(
            recommender, batched, sorted({max(1, batch // 4),
                                          max(1, batch // 2), batch}))
        result["rerank_flops_per_query"] = float(rank_flops(
            recommender, data, m.query_tower.history_length))
      elif kind == "bruteforce":
        result["bruteforce"] = stats
        for key, queries in zip(("large_batch", "largest_batch"), large):
          result[key] = large_batch(path, queries, seed,
                                    m.query_tower.history_length)
      else:
        result["without_history"] = stats
  result["sgemm_gflops"] = sgemm_gflops()["best"]
  result["rerank_flop_fraction"] = (
      result["rerank_batched_qps"] * result["rerank_flops_per_query"]
      / (result["sgemm_gflops"] * 1e9))
  result["history_cost_ms"] = {
      key: result[key] - result["without_history"][key]
      for key in ("p50_ms", "retrieve_ms", "rerank_ms")}
  return result


def main(argv=None) -> dict:
  parser = common.parser(__doc__.splitlines()[0])
  parser.add_argument(
      "--intra-op-threads", type=int, default=0,
      help="threads of one op (0: TensorFlow's default, one per core); the "
      "model server's --tensorflow_intra_op_parallelism")
  parser.add_argument(
      "--inter-op-threads", type=int, default=0,
      help="ops run side by side (0: TensorFlow's default); the model "
      "server's --tensorflow_inter_op_parallelism")
  args = parser.parse_args(argv)
  if args.intra_op_threads:  # before TensorFlow runs its first op
    tf.config.threading.set_intra_op_parallelism_threads(
        args.intra_op_threads)
  if args.inter_op_threads:
    tf.config.threading.set_inter_op_parallelism_threads(
        args.inter_op_threads)
  threads = {"intra_op": args.intra_op_threads,
             "inter_op": args.inter_op_threads}
  if args.tiny:
    result = run(3000, 50, 10, 16, 20, 8, args.seed, clients=2,
                 load_seconds=1.0, large=(100, 300))
  else:
    result = run(1_000_000, 200, 10, 64, 300, 64, args.seed)
  result["threads"] = threads
  path = common.write_json(result, args.output, "serving")
  b, load = result["bruteforce"], result["load"]
  print(f"serving (ScaNN): p50 {result['p50_ms']:.2f} ms, p99 "
        f"{result['p99_ms']:.2f} ms, batched {result['batched_qps']:.0f} "
        f"queries/s; retrieve {result['retrieve_ms']:.2f} ms + re-rank "
        f"{result['rerank_ms']:.2f} ms; history adds "
        f"{result['history_cost_ms']['p50_ms']:.2f} ms. Load "
        f"({load['clients']} clients, {load['seconds']:.0f} s): "
        f"{load['qps']:.0f} queries/s, p99 {load['p99_ms']:.1f} ms, "
        f"{load['errors']} errors, RSS {load['rss_mb_start']:.0f} -> "
        f"{load['rss_mb_end']:.0f} MB. BruteForce: p50 {b['p50_ms']:.2f} ms, "
        f"batched {b['batched_qps']:.0f} queries/s. Batches from "
        f"{result['batched_parallel']['callers']} callers side by side: "
        f"{result['batched_parallel']['qps']:.0f} queries/s. Re-ranking: "
        f"{result['rerank_flops_per_query'] / 1e6:.1f} MFLOP per query, "
        f"{result['rerank_flop_fraction']:.0%} of sgemm "
        f"{result['sgemm_gflops']:.0f} GFLOP/s at batch {result['batch_size']}. "
        + "".join(
            f"{r['queries']} queries in one request: peak RSS "
            f"{r['peak_rss_mb']:.0f} MB, {r['errors']} errors. "
            for r in (result["large_batch"], result["largest_batch"])) +
        f"[{result['machine']['cores']} cores] -> {path}")
  return result


if __name__ == "__main__":
  main()
