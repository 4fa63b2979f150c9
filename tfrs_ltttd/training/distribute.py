"""Parameter-server training: the cluster's roles and the strategy.

`tf.distribute.experimental.ParameterServerStrategy` keeps the variables on
parameter servers (large embedding tables split into shards across them) and
runs training steps asynchronously on workers, scheduled by a coordinator
(the chief), which also builds each epoch's lists and hard negatives. The
cluster comes from the `TF_CONFIG` environment variable:

  {"cluster": {"chief": ["host:port"], "worker": [...], "ps": [...]},
   "task": {"type": "worker", "index": 0}}

Workers and parameter servers only run a TensorFlow server
(`run_server`); the chief runs `tfrs_ltttd.training.fit` under
`parameter_server_strategy()`.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import tensorflow as tf

#: Default smallest shard of a sharded variable: tables smaller than this
#: stay whole on one parameter server.
MIN_SHARD_BYTES = 256 << 10


def cluster_role() -> Optional[str]:
  """This process's role from `TF_CONFIG` ("chief", "worker", "ps",
  "evaluator"), or None without `TF_CONFIG`."""
  config = os.environ.get("TF_CONFIG")
  if not config:
    return None
  try:
    return json.loads(config)["task"]["type"]
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError("TF_CONFIG must be JSON with a 'task' holding 'type' "
                     f"and 'index'; could not read it: {e}") from e


def is_parameter_server(strategy: tf.distribute.Strategy) -> bool:
  """True for a `ParameterServerStrategy`."""
  return isinstance(strategy,
                    tf.distribute.experimental.ParameterServerStrategy)


def _resolver() -> tf.distribute.cluster_resolver.TFConfigClusterResolver:
  if "TF_CONFIG" not in os.environ:
    raise ValueError("parameter-server training needs the TF_CONFIG "
                     "environment variable describing the cluster (chief, "
                     "worker and ps tasks).")
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  jobs = resolver.cluster_spec().as_dict()
  for job in ("worker", "ps"):
    if not jobs.get(job):
      raise ValueError(f"TF_CONFIG: the cluster needs at least one '{job}' "
                       f"task, got jobs {sorted(jobs)}.")
  return resolver


def run_server() -> None:
  """Runs this worker's or parameter server's TensorFlow server until the
  process is stopped.

  Workers get `num_workers + 1` inter-op threads: with fewer, on small
  machines, a worker can wait forever on a step the coordinator has not
  been able to schedule.
  """
  resolver = _resolver()
  if resolver.task_type not in ("worker", "ps"):
    raise ValueError(f"run_server: this task is a '{resolver.task_type}'; "
                     "only workers and parameter servers run a server.")
  config = tf.compat.v1.ConfigProto()
  if resolver.task_type == "worker":
    workers = len(resolver.cluster_spec().as_dict()["worker"])
    config.inter_op_parallelism_threads = workers + 1
  server = tf.distribute.Server(
      resolver.cluster_spec(), job_name=resolver.task_type,
      task_index=resolver.task_id, protocol=resolver.rpc_layer or "grpc",
      config=config, start=True)
  server.join()


def parameter_server_strategy(
    min_shard_bytes: int = MIN_SHARD_BYTES,
) -> tf.distribute.experimental.ParameterServerStrategy:
  """The strategy for the chief, with variables sharded across the
  parameter servers.

  Args:
    min_shard_bytes: a variable is split into shards of at least this size,
      at most one per parameter server
      (`tf.distribute.experimental.partitioners.MinSizePartitioner`): the
      id embedding tables shard, small dense weights stay whole.

  Returns:
    A `ParameterServerStrategy` on the `TF_CONFIG` cluster.

  Raises:
    ValueError: without `TF_CONFIG`, without workers or parameter servers,
      or on a task other than the chief.
  """
  if min_shard_bytes < 1:
    raise ValueError(f"min_shard_bytes must be >= 1, got {min_shard_bytes}.")
  resolver = _resolver()
  if resolver.task_type != "chief":
    raise ValueError(f"parameter_server_strategy runs on the chief; this "
                     f"task is a '{resolver.task_type}' (run_server).")
  num_ps = len(resolver.cluster_spec().as_dict()["ps"])
  partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
      min_shard_bytes=min_shard_bytes, max_shards=num_ps)
  return tf.distribute.experimental.ParameterServerStrategy(
      resolver, variable_partitioner=partitioner)


def tf_config(cluster: Dict[str, List[str]], task_type: str,
              index: int = 0) -> str:
  """The `TF_CONFIG` value of one task of `cluster`."""
  return json.dumps({"cluster": cluster,
                     "task": {"type": task_type, "index": index}})
