"""How retrieval and re-ranking cost grow: catalogue size and list length.

Retrieval: per-query time of batched BruteForce and ScaNN (package defaults)
top-100 over 10^4 .. 10^6 clustered unit vectors (d=64). Re-ranking: per-list
time of the default 2-layer transformer (width 64) over lists of 50 .. 400
candidates, also with XLA (`jit_compile`; the towers cannot be compiled,
XLA has no string or lookup-table kernels). The fitted log-log slope is the empirical growth exponent, set
beside the paper's claims: exact retrieval O(N d) (slope 1), ScaNN
sub-linear (slope < 1), the transformer O(L^2 d + L d^2) per layer (slope
between 1 and 2, nearer 2 once L exceeds the width).
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf

from benchmarks import common
from tfrs_ltttd._io import atomic_path
from tfrs_ltttd.layers import ListwiseTransformer
from tfrs_ltttd.retrieval import build_index


def _slope(x, y) -> float:
  return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def retrieval_costs(sizes, dim, k, num_queries, seed):
  centres = common.cluster_centres(2000, dim, seed)
  queries = tf.constant(common.clustered_vectors(num_queries, dim, 2000,
                                                 seed + 1, centres=centres))
  out = {"n": list(sizes), "bruteforce_ms_per_query": [],
         "scann_ms_per_query": []}
  for n in sizes:
    items = common.clustered_vectors(n, dim, 2000, seed, centres=centres)
    for kind in ("bruteforce", "scann"):
      index = build_index(items, kind=kind, k=min(k, n))
      batch = 100 if kind == "bruteforce" else num_queries

      def query_all(_, index=index, batch=batch):
        for i in range(0, num_queries, batch):
          index(queries[i:i + batch])[1].numpy()

      seconds = np.median(common.time_calls(query_all, 3, warmup=1))
      out[f"{kind}_ms_per_query"].append(float(seconds / num_queries * 1000))
  out["bruteforce_slope"] = _slope(sizes, out["bruteforce_ms_per_query"])
  out["scann_slope"] = _slope(sizes, out["scann_ms_per_query"])
  return out


def rerank_costs(lengths, dim, batch, seed):
  tf.keras.utils.set_random_seed(seed)
  layer = ListwiseTransformer()  # the default: 2 layers x 4 heads, width 64
  out = {"list_size": list(lengths), "ms_per_list": [],
         "ms_per_list_xla": []}
  for length in lengths:
    rng = np.random.default_rng(seed)
    x = {"query": tf.constant(rng.normal(size=(batch, dim)), tf.float32),
         "candidates": tf.constant(rng.normal(size=(batch, length, dim)),
                                   tf.float32),
         "scores": tf.constant(rng.normal(size=(batch, length)), tf.float32),
         "mask": tf.ones((batch, length), tf.bool)}
    for key, jit in (("ms_per_list", False), ("ms_per_list_xla", True)):
      fn = tf.function(lambda x: layer(x, training=False), jit_compile=jit)
      seconds = np.median(common.time_calls(lambda _: fn(x).numpy(), 10))
      out[key].append(float(seconds / batch * 1000))
  out["slope"] = _slope(lengths, out["ms_per_list"])
  out["xla_speedup"] = [a / b for a, b in zip(out["ms_per_list"],
                                              out["ms_per_list_xla"])]
  return out


def plot(result, path: pathlib.Path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
  r = result["retrieval"]
  left.loglog(r["n"], r["bruteforce_ms_per_query"], "o-",
              label=f"BruteForce (slope {r['bruteforce_slope']:.2f})")
  left.loglog(r["n"], r["scann_ms_per_query"], "s-",
              label=f"ScaNN (slope {r['scann_slope']:.2f})")
  left.set(xlabel="catalogue size N", ylabel="ms per query (batched)",
           title="Retrieval: paper O(N d) exact, sub-linear ANN")
  t = result["rerank"]
  right.loglog(t["list_size"], t["ms_per_list"], "o-",
               label=f"transformer (slope {t['slope']:.2f})")
  right.loglog(t["list_size"], t["ms_per_list_xla"], "s--",
               label="transformer, XLA")
  right.set(xlabel="list length L", ylabel="ms per list",
            title="Re-ranking: paper O(L^2 d + L d^2)")
  for ax in (left, right):
    ax.grid(alpha=0.3, which="both")
    ax.legend()
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=110)
  plt.close(fig)


def main(argv=None) -> dict:
  args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
  if args.tiny:
    sizes, lengths, queries, batch = [500, 1000, 2000], [8, 16], 20, 4
  else:
    sizes = [10_000, 30_000, 100_000, 300_000, 1_000_000]
    lengths, queries, batch = [50, 100, 200, 400], 1000, 32
  result = {"machine": common.machine(),
            "retrieval": retrieval_costs(sizes, 64, 100, queries, args.seed),
            "rerank": rerank_costs(lengths, 64, batch, args.seed)}
  path = common.write_json(result, args.output, "scaling")
  plot(result, pathlib.Path(args.output) / "scaling.png")
  r, t = result["retrieval"], result["rerank"]
  print(f"scaling: retrieval cost ~ N^{r['bruteforce_slope']:.2f} "
        f"(BruteForce), N^{r['scann_slope']:.2f} (ScaNN); re-ranking ~ "
        f"L^{t['slope']:.2f}. [{result['machine']['cores']} cores] -> {path}")
  return result


if __name__ == "__main__":
  main()
