"""Training examples on disk: sharded TFRecord files read back with tf.data.

A `tf.data.Dataset.from_tensor_slices` over numpy arrays puts the arrays in
the dataset's graph; a parameter-server coordinator ships that graph to
every worker (a 2 GB protocol-buffer limit, and a copy per worker).
`write` stores the rows of a nested dict of arrays (one row per example: the
retrieval pairs' or the candidate lists' features) as `num_shards` TFRecord
files, contiguous row ranges in order, and `read` streams them back as the
same rows with the same dtypes and shapes, so the examples never pass
through a graph constant and a reader holds one buffer, not the data set.

Each record is one example: its leaves (in `tf.nest` order) as serialized
`TensorProto`s, themselves serialized as one string tensor; the leaves'
dtypes and per-row shapes are kept in `ExampleFiles.spec`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd._io import atomic_path


@dataclasses.dataclass(frozen=True)
class ExampleFiles:
  """Examples written by `write`.

  Attributes:
    paths: the shard files, in row order.
    spec: the nested structure of one row (`tf.TensorSpec` leaves).
    num_rows: examples over all shards.
  """

  paths: Tuple[str, ...]
  spec: Any
  num_rows: int


def _serialize(*leaves):
  return tf.io.serialize_tensor(tf.stack(
      [tf.io.serialize_tensor(leaf) for leaf in leaves]))


def write(folder: str | os.PathLike, name: str,
          rows: Mapping[str, Any], num_shards: int = 1) -> ExampleFiles:
  """Writes the rows of `rows` (nested dict, arrays of equal length) as
  `folder/name-0000i-of-0000n.tfrecord`.

  Each shard is written to a temporary name and renamed when complete.

  Args:
    folder: the folder (created if missing).
    name: the files' prefix.
    rows: a nested dict of numpy arrays, one entry per example along axis 0.
    num_shards: files to spread the rows over (contiguous ranges).

  Returns:
    The `ExampleFiles` to `read`.

  Raises:
    ValueError: for arrays of different lengths or a bad shard count.
  """
  leaves = [np.asarray(v) for v in tf.nest.flatten(rows)]
  lengths = {len(v) for v in leaves}
  if len(lengths) != 1:
    raise ValueError(f"records.write: every array needs one row per example,"
                     f" got lengths {sorted(lengths)}.")
  num_rows = lengths.pop()
  if not 1 <= num_shards:
    raise ValueError(f"num_shards must be >= 1, got {num_shards}.")
  num_shards = max(1, min(num_shards, num_rows))
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  bounds = np.linspace(0, num_rows, num_shards + 1).astype(int)
  paths = []
  for shard in range(num_shards):
    path = folder / f"{name}-{shard:05d}-of-{num_shards:05d}.tfrecord"
    part = [v[bounds[shard]:bounds[shard + 1]] for v in leaves]
    ds = tf.data.Dataset.from_tensor_slices(tuple(part)).map(
        _serialize, num_parallel_calls=tf.data.AUTOTUNE)
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
      for record in ds.as_numpy_iterator():
        writer.write(record)
    paths.append(str(path))
  spec = tf.nest.pack_sequence_as(rows, [
      tf.TensorSpec(v.shape[1:], tf.as_dtype(
          tf.string if v.dtype.kind in "USO" else v.dtype)) for v in leaves])
  return ExampleFiles(tuple(paths), spec, num_rows)


def read(files: ExampleFiles,
         shard: Optional[Tuple[int, int]] = None) -> tf.data.Dataset:
  """The rows of `files`, in order, as a dataset of nested dicts.

  Args:
    files: from `write`.
    shard: `(num_readers, index)`: read only the files `index`,
      `index + num_readers`, ... (a parameter-server worker's share; with
      more readers than files, a reader gets the file `index % files`).

  Returns:
    An unbatched dataset with the element structure `files.spec`.
  """
  paths: Sequence[str] = files.paths
  if shard is not None:
    readers, index = shard
    paths = paths[index % len(paths)::readers] or [paths[index % len(paths)]]
  specs = tf.nest.flatten(files.spec)

  def parse(record):
    leaves = tf.io.parse_tensor(record, tf.string)
    parsed = [tf.ensure_shape(tf.io.parse_tensor(leaves[i], s.dtype), s.shape)
              for i, s in enumerate(specs)]
    return tf.nest.pack_sequence_as(files.spec, parsed)

  ds = tf.data.TFRecordDataset(list(paths)).map(
      parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if shard is None:
    # A known length, as from_tensor_slices gives: Keras then runs the same
    # steps and metric updates as on in-memory examples.
    ds = ds.apply(tf.data.experimental.assert_cardinality(files.num_rows))
  return ds
