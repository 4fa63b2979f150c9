"""Latency and throughput of the exported SavedModel's `serving_default`.

Retrieve K=200 from a 1,000,000-item catalogue, re-rank them with a 2-layer
transformer, return the top 10: single-request p50/p99, batched throughput,
and the split of a request's time between retrieval (`retrieve` signature)
and re-ranking (`rank` signature on 200 candidates), for the ScaNN and the
BruteForce exports. Model weights do not change the cost, so the towers are
untrained; the catalogue is clustered unit vectors as in the retrieval
benchmark, encoded "offline" and handed to the `Recommender`.
"""

from __future__ import annotations

import tempfile

import numpy as np
import tensorflow as tf

from benchmarks import common
from tfrs_ltttd import LTTTDModel, ModelConfig
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.serving import Recommender, export


def _query(data, rows, history_length):
  return {k: tf.constant(v) for k, v in
          serving_query(data, np.asarray(rows), history_length).items()}


def run(num_items: int, num_candidates: int, k: int, dim: int,
        requests: int, batch: int, seed: int) -> dict:
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=500, num_items=300, seed=seed))
  tf.keras.utils.set_random_seed(seed)
  model = LTTTDModel.from_data(data, ModelConfig(output_dim=dim, num_layers=2,
                                                 num_heads=4, width=64))
  centres = common.cluster_centres(2000, dim, seed)
  embeddings = common.clustered_vectors(num_items, dim, 2000, seed,
                                        centres=centres)
  rng = np.random.default_rng(seed)
  residuals = rng.normal(size=(num_items, model.item_tower.residual_dim))
  ids = np.arange(num_items, dtype=np.int64)
  result = {"machine": common.machine(), "num_items": num_items,
            "num_candidates": num_candidates, "k": k, "transformer_layers": 2}
  rows = rng.integers(0, data.num_users, requests)
  with tempfile.TemporaryDirectory() as tmp:
    for kind in ("scann", "bruteforce"):
      recommender = Recommender(model, catalogue=(ids, embeddings, residuals),
                                index=kind, num_candidates=num_candidates,
                                k=k)
      loaded = tf.saved_model.load(str(export(recommender, tmp, kind)))
      serve = loaded.signatures["serving_default"]
      retrieve, rank = loaded.signatures["retrieve"], loaded.signatures["rank"]
      singles = [_query(data, rows[i:i + 1], model.query_tower.history_length)
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
      batched = _query(data, rows[:batch], model.query_tower.history_length)
      seconds = common.time_calls(
          lambda i: serve(**batched)["item_ids"].numpy(), 10)
      stats = {**common.percentiles_ms(one),
               "batched_qps": batch / float(np.median(seconds)),
               "batch_size": batch,
               "retrieve_ms": float(np.median(ret) * 1000),
               "rerank_ms": float(np.median(rer) * 1000)}
      if kind == "scann":
        result.update(stats)
      else:
        result["bruteforce"] = stats
  return result


def main(argv=None) -> dict:
  args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
  if args.tiny:
    result = run(3000, 50, 10, 16, 20, 8, args.seed)
  else:
    result = run(1_000_000, 200, 10, 64, 300, 64, args.seed)
  path = common.write_json(result, args.output, "serving")
  b = result["bruteforce"]
  print(f"serving (ScaNN): p50 {result['p50_ms']:.2f} ms, p99 "
        f"{result['p99_ms']:.2f} ms, batched {result['batched_qps']:.0f} "
        f"queries/s; retrieve {result['retrieve_ms']:.2f} ms + re-rank "
        f"{result['rerank_ms']:.2f} ms. BruteForce: p50 {b['p50_ms']:.2f} ms, "
        f"batched {b['batched_qps']:.0f} queries/s. "
        f"[{result['machine']['cores']} cores] -> {path}")
  return result


if __name__ == "__main__":
  main()
