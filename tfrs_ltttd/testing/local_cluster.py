"""A parameter-server cluster on localhost, for trying the strategy (and
testing it) on one machine: each server its own `ltttd train` process."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional

from tfrs_ltttd.training.distribute import tf_config


def free_ports(n: int) -> List[int]:
  """`n` TCP ports free on localhost now."""
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@contextlib.contextmanager
def local_cluster(num_workers: int = 2, num_ps: int = 2,
                  log_dir: Optional[str | os.PathLike] = None
                  ) -> Iterator[Dict[str, List[str]]]:
  """Parameter servers and workers on localhost, each its own process
  (`ltttd train --strategy parameter_server`), for trying the strategy on
  one machine.

  Yields the cluster (`{"chief": [...], "worker": [...], "ps": [...]}`);
  run the chief with `TF_CONFIG=tf_config(cluster, "chief")`. The servers
  are stopped on exit.

  Args:
    num_workers: worker processes.
    num_ps: parameter-server processes.
    log_dir: where each server's output goes (`ps0.log`, `worker1.log`,
      ...); discarded if None.

  Raises:
    RuntimeError: when a server does not start listening within a minute,
      or on exit, if a server stopped before it was stopped.
  """
  ports = free_ports(1 + num_workers + num_ps)
  address = [f"127.0.0.1:{p}" for p in ports]
  cluster = {"chief": address[:1], "worker": address[1:1 + num_workers],
             "ps": address[1 + num_workers:]}
  servers, logs = [], []
  try:
    for task, count in (("ps", num_ps), ("worker", num_workers)):
      for index in range(count):
        log = (open(pathlib.Path(log_dir) / f"{task}{index}.log", "w")  # pylint: disable=consider-using-with
               if log_dir else subprocess.DEVNULL)
        if log_dir:
          logs.append(log)
        env = dict(os.environ, TF_CONFIG=tf_config(cluster, task, index))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        servers.append(subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "tfrs_ltttd.cli", "train", "--strategy",
             "parameter_server"], env=env, stdout=log,
            stderr=subprocess.STDOUT))
    _wait_listening(servers, cluster, log_dir)
    yield cluster
    stopped = [i for i, s in enumerate(servers) if s.poll() is not None]
    if stopped:
      raise RuntimeError(f"local_cluster: {len(stopped)} server(s) stopped "
                         "early" + (f"; see {log_dir}" if log_dir else ""))
  finally:
    for server in servers:
      server.kill()
      server.wait()
    for log in logs:
      log.close()


def _wait_listening(servers, cluster, log_dir, timeout: float = 60.0):
  """Returns once every server accepts connections; raises if one exits."""
  addresses = cluster["ps"] + cluster["worker"]
  deadline = time.monotonic() + timeout
  waiting = list(zip(servers, addresses))
  while waiting:
    server, address = waiting[0]
    if server.poll() is not None:
      raise RuntimeError(f"local_cluster: the server for {address} exited "
                         f"with code {server.returncode}" +
                         (f"; see {log_dir}" if log_dir else ""))
    host, port = address.rsplit(":", 1)
    try:
      socket.create_connection((host, int(port)), timeout=1).close()
      waiting.pop(0)
    except OSError:
      if time.monotonic() > deadline:
        raise RuntimeError(f"local_cluster: {address} did not start "
                           f"within {timeout:.0f} s") from None
      time.sleep(0.2)
