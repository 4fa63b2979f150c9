"""Retrieval: BruteForce and ScaNN indexes over the item tower's catalogue."""

from tfrs_ltttd.retrieval.index import (INDEX_KINDS, ScaNNConfig, build_index,
                                        encode_catalogue)
