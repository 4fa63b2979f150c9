"""Rows of every replica inside a distributed step."""

from __future__ import annotations

import tensorflow as tf


def gather_across_replicas(embeddings: tf.Tensor, *others):
  """All replicas' rows, this replica's first; the inputs as they are when
  there is a single replica. `None` entries pass through.

  Built on `all_reduce` rather than `all_gather`, which fails inside a Keras
  step under MultiWorkerMirroredStrategy in TF 2.15 ("destinations can not
  be empty"): each replica writes its rows into its own slot of a zero
  tensor and the sum over replicas assembles them. The gradient of the sum
  is again a sum over replicas, so every replica's loss reaches the rows'
  owner, as in one process.
  """
  context = tf.distribute.get_replica_context()
  if context is None or context.num_replicas_in_sync == 1:
    return (embeddings, *others)
  replicas = context.num_replicas_in_sync
  replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
  local = tf.shape(embeddings)[0]

  def gather(x):
    if x is None:
      return None
    slot = tf.reshape(tf.one_hot(replica, replicas, dtype=x.dtype),
                      [replicas, 1] + [1] * (x.shape.rank - 1))
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, slot * x[None])
    flat = tf.reshape(total, tf.concat([[-1], tf.shape(x)[1:]], 0))
    return tf.roll(flat, -replica * local, axis=0)

  return (gather(embeddings), *(gather(x) for x in others))
