"""Shared helpers of the benchmarks: machine, timing, data, result files."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time
from typing import Callable, Dict, List

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfrs_ltttd._io import atomic_path  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def machine() -> Dict[str, object]:
  """Cores, CPU model, Python and TensorFlow versions."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  cpu = platform.processor()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  return {"cores": os.cpu_count(), "cpu": cpu,
          "python": platform.python_version(), "tensorflow": tf.__version__}


def parser(description: str) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--tiny", action="store_true",
                 help="a seconds-long run on tiny sizes (for the tests)")
  p.add_argument("--output", default=str(RESULTS),
                 help="folder of the JSON result")
  p.add_argument("--seed", type=int, default=0)
  return p


def write_json(result: Dict, output: str, name: str) -> pathlib.Path:
  """Writes `output/name.json` atomically (temp file, then rename)."""
  path = pathlib.Path(output) / f"{name}.json"
  with atomic_path(path) as tmp:
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True))
  return path


def clustered_vectors(n: int, dim: int, num_clusters: int, seed: int,
                      spread: float = 0.35, centres=None) -> np.ndarray:
  """Unit vectors around `num_clusters` centres: the structure trained item
  towers show (items of a kind together), not isotropic noise."""
  rng = np.random.default_rng(seed)
  if centres is None:
    centres = rng.normal(size=(num_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
  # Zipf-like cluster sizes, as categories are.
  weights = 1.0 / np.arange(1, len(centres) + 1) ** 0.8
  which = rng.choice(len(centres), n, p=weights / weights.sum())
  x = centres[which] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim)
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  return x.astype(np.float32)


def cluster_centres(num_clusters: int, dim: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(num_clusters, dim))
  return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def time_calls(fn: Callable[[int], object], repeats: int,
               warmup: int = 3) -> List[float]:
  """Wall seconds of `fn(i)` for i in range(repeats), after `warmup` calls."""
  for i in range(warmup):
    fn(i)
  out = []
  for i in range(repeats):
    start = time.perf_counter()
    fn(i)
    out.append(time.perf_counter() - start)
  return out


def percentiles_ms(seconds: List[float]) -> Dict[str, float]:
  ms = np.asarray(seconds) * 1000
  return {"p50_ms": float(np.percentile(ms, 50)),
          "p99_ms": float(np.percentile(ms, 99))}


def cores() -> int:
  """CPU cores of this machine."""
  return os.cpu_count() or 1


def matmul_flops(function) -> int:
  """Multiply-adds x 2 of every `MatMul` and `BatchMatMul` in a traced
  `tf.function`'s graph, from their static shapes (the graph's arithmetic,
  without the elementwise ops).

  Args:
    function: a concrete function whose matmul operands have static shapes.

  Raises:
    ValueError: naming the op whose shapes are not static.
  """
  total = 0
  for op in function.graph.get_operations():
    if op.type not in ("MatMul", "BatchMatMul", "BatchMatMulV2",
                       "BatchMatMulV3"):
      continue
    a, b = (x.shape for x in op.inputs)
    if not (a.is_fully_defined() and b.is_fully_defined()):
      raise ValueError(f"{op.name}: operand shapes {a} and {b} are not static.")
    flip = (("transpose_a", "transpose_b") if op.type == "MatMul"
            else ("adj_x", "adj_y"))
    m, k = a[-2:][::-1] if op.get_attr(flip[0]) else a[-2:]
    n = b[-2] if op.get_attr(flip[1]) else b[-1]
    batch = np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    total += 2 * int(np.prod(batch, dtype=np.int64)) * m * k * n
  return total
