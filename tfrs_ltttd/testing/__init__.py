"""Helpers for trying the package on one machine."""

from tfrs_ltttd.testing.local_cluster import free_ports, local_cluster
