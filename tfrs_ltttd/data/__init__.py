"""Data: sources (synthetic, MovieLens, Amazon Beauty, your own tables) ->
`Interactions`."""

from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.interactions import Interactions
