"""Keras layers: the two towers and the listwise transformer."""

from tfrs_ltttd.layers.towers import ItemTower, QueryTower, Tower, describe_features
from tfrs_ltttd.layers.transformer import PADDING_SCORE, ListwiseTransformer
