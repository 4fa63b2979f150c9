"""Versioned, atomic SavedModel export in the layout TF Serving loads.

`export(recommender, "saved_models", "ltttd")` writes
`saved_models/ltttd/<version>/` with three signatures:

| signature | inputs | outputs |
| --- | --- | --- |
| `serving_default` | the query features, each `[batch]` | `item_ids` `[batch, k]`, `scores` `[batch, k]` (transformer) |
| `retrieve` | the query features | `item_ids` `[batch, K]`, `scores` `[batch, K]` (`<e_q, e_i>`) |
| `rank` | the query features + `candidate_ids` `[batch, L]` | `scores` `[batch, L]`, `mask` `[batch, L]` (False: unknown id) |

Query features are named as in the data (for the synthetic data: `user_id`
int64, `user_segment` string, `user_age` float32); an unknown categorical value
maps to the lookup's out-of-vocabulary bucket. The BruteForce variant uses only
built-in TensorFlow ops and loads in the stock `tensorflow_model_server`; the
ScaNN variant needs ScaNN's custom ops (`Scann>...`), i.e. a model server built
with them (such as the `google/tf-serving-scann` image).

The SavedModel is written to a hidden temporary folder beside the target and
renamed into place, so a failed export leaves no partial version and never
touches earlier ones (TF Serving ignores folders whose name is not a number).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Dict, Optional, Set

import numpy as np
import tensorflow as tf

from tensorflow.core.protobuf import saved_model_pb2

from tfrs_ltttd._io import atomic_path
from tfrs_ltttd.serving.recommender import Recommender

METADATA_FILE = "assets.extra/ltttd.json"


def _next_version(model_dir: pathlib.Path) -> int:
  versions = [int(p.name) for p in model_dir.iterdir()
              if p.is_dir() and p.name.isdigit()] if model_dir.exists() else []
  return max(versions, default=0) + 1


def export(
    recommender: Recommender,
    base_dir: str | os.PathLike,
    name: str = "ltttd",
    version: Optional[int] = None,
) -> pathlib.Path:
  """Writes `base_dir/name/version/` atomically and returns its path.

  Args:
    recommender: the pipeline to export.
    base_dir: the model base path TF Serving watches (`--model_base_path`
      is `base_dir/name`).
    name: the model name.
    version: a positive integer; default: one more than the largest present.

  Returns:
    The path of the new version.

  Raises:
    ValueError: for a bad name or version, or a version that exists already.
  """
  if not name or "/" in name or name.startswith("."):
    raise ValueError(f"name must be a plain folder name, got '{name}'.")
  model_dir = pathlib.Path(base_dir) / name
  model_dir.mkdir(parents=True, exist_ok=True)
  version = _next_version(model_dir) if version is None else version
  if not isinstance(version, int) or version < 1:
    raise ValueError(f"version must be a positive integer, got {version!r}.")
  final = model_dir / str(version)
  if final.exists():
    raise ValueError(f"version {version} exists already at {final}; "
                     "exports never overwrite a version.")
  options = tf.saved_model.SaveOptions(
      namespace_whitelist=["Scann"] if recommender.index_kind == "scann"
      else None)
  with atomic_path(final, folder=True) as tmp:
    tf.saved_model.save(recommender, str(tmp),
                        signatures=recommender.signatures(), options=options)
    metadata = {
        "index": recommender.index_kind,
        "num_candidates": recommender.num_candidates,
        "k": recommender.k,
        "max_batch": recommender.max_batch,
        "correction_weight": float(
            recommender.transformer.correction_weight.numpy()),
        "query_features": {n: s.dtype.name for n, s in
                           dict(recommender.query_specs).items()},
        "candidate_ids_dtype": recommender.item_id_spec.dtype.name,
        "needs_custom_ops": recommender.index_kind == "scann",
    }
    (tmp / "assets.extra").mkdir(exist_ok=True)
    (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
  return final


def custom_ops(export_dir: str | os.PathLike) -> Set[str]:
  """Ops in a SavedModel that are not built-in TensorFlow ops.

  Walks every node of the graph and of every function in its library; an op
  is built in when `tf.raw_ops` has it. An empty set means that the stock
  TensorFlow Serving binary can load the model.
  """
  proto = saved_model_pb2.SavedModel()
  proto.ParseFromString(
      (pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
  ops = set()
  for meta_graph in proto.meta_graphs:
    ops.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
      ops.update(node.op for node in function.node_def)
  return {op for op in ops if not hasattr(tf.raw_ops, op)}


def decode_rest_request(body: Dict[str, Any], signature) -> Dict[str, tf.Tensor]:
  """Decodes a TF Serving REST `:predict` body into a signature's tensors.

  Accepts the row format (`{"instances": [{...}, ...]}`) and the columnar
  format (`{"inputs": {...}}`), as the model server does.

  Args:
    body: the parsed JSON request.
    signature: a loaded signature (`loaded.signatures[name]`).

  Returns:
    Keyword arguments for `signature(**kwargs)`.

  Raises:
    ValueError: naming the input that is missing, unknown or of the wrong
      type.
  """
  specs = signature.structured_input_signature[1]
  if "instances" in body:
    rows = body["instances"]
    if not isinstance(rows, list) or not all(isinstance(r, dict)
                                             for r in rows):
      raise ValueError("'instances' must be a list of objects, one per query.")
    columns = {n: [row.get(n) for row in rows] for n in sorted(specs)}
    for name, values in columns.items():
      lengths = {len(v) for v in values if isinstance(v, list)}
      if len(lengths) > 1:
        raise ValueError(f"input '{name}' has lists of different lengths "
                         f"{sorted(lengths)} across instances; pad them to "
                         "one length (history ids with -1 or \"\").")
    missing = sorted(n for n in specs if any(v is None for v in columns[n]))
  elif "inputs" in body:
    columns = dict(body["inputs"])
    missing = sorted(n for n in specs if n not in columns)
  else:
    raise ValueError("request body needs 'instances' or 'inputs'.")
  if missing:
    raise ValueError(f"missing input(s) {missing}; the signature expects "
                     f"{sorted(specs)}.")
  out = {}
  for name, spec in specs.items():
    value = np.asarray(columns[name])
    ok = value.size == 0 or (
        value.dtype.kind in "US" if spec.dtype == tf.string else
        value.dtype.kind in "iu" if spec.dtype.is_integer else
        value.dtype.kind in "iuf")
    if not ok:
      raise ValueError(f"input '{name}' must be {spec.dtype.name}, got "
                       f"values of type {value.dtype}.")
    if value.size == 0:
      value = value.astype(spec.dtype.as_numpy_dtype)
    out[name] = tf.constant(value, spec.dtype)
  return out
