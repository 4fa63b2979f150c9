"""Retrieval: exact and ScaNN indexes over the item tower's catalogue."""

from tfrs_ltttd.retrieval.exact import ExactTopK
from tfrs_ltttd.retrieval.index import INDEX_KINDS, build_index, encode_catalogue
from tfrs_ltttd.retrieval.scann import ScaNN, ScaNNConfig
from tfrs_ltttd.retrieval.topk import retrieve, top_k_unseen
