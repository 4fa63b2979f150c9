"""Data: the interactions container, the synthetic generator, listwise examples."""

from tfrs_ltttd.data import lists
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.interactions import Interactions
