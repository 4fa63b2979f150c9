"""Data: sources (synthetic, MovieLens, your own tables) -> `Interactions`."""

from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.interactions import Interactions
