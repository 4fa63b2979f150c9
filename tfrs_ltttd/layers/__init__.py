"""Keras layers: the two towers, the history encoder, the listwise
transformer, item-item scores of candidates from a history, and what of a
history shares each item attribute with a candidate."""

from tfrs_ltttd.layers.features import (HISTORY_IDS, HISTORY_LABELS, PAD_ID,
                                        describe_features)
from tfrs_ltttd.layers.history import HistoryEncoder
from tfrs_ltttd.layers.item_item import (ItemItemScores, ease_weights,
                                         top_neighbours)
from tfrs_ltttd.layers.matches import HistoryMatches, item_attributes
from tfrs_ltttd.layers.towers import ItemTower, QueryTower, Tower
from tfrs_ltttd.layers.transformer import PADDING_SCORE, ListwiseTransformer
