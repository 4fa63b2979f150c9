"""ScaNN settings and the ScaNN index layer with anisotropic hashing."""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Optional

import tensorflow_recommenders as tfrs


@dataclasses.dataclass(frozen=True)
class ScaNNConfig:
  """Settings of a ScaNN index; None means "derive from the catalogue size".

  The derived defaults (from the recall-vs-QPS frontier of
  `benchmarks/retrieval.py`): `sqrt(N)` leaves (at most 2000); exact
  re-scoring of max(5 k, 250) candidates; enough leaves searched to hold
  max(10 k, re-scored) candidates and at least 2 % of the leaves;
  anisotropic hashing (threshold 0.2), 1 dimension per block; spherical
  k-means leaves (the towers' embeddings are unit vectors). At
  N = 1,000,000 and k = 100 that is 1000 leaves, 20 searched, 500 re-scored;
  small catalogues degrade toward an exhaustive, exact search.

  Attributes:
    num_leaves: partitions of the catalogue.
    num_leaves_to_search: partitions scanned per query.
    num_reordering_candidates: candidates re-scored exactly.
    dimensions_per_block: asymmetric-hashing block size (smaller is more
      accurate and a little slower).
    anisotropic_quantization_threshold: the score above which quantization
      error parallel to the item counts more (ScaNN's anisotropic loss; the
      ScaNN authors suggest 0.2 for unit vectors); None for plain
      reconstruction loss, as `tfrs.layers.factorized_top_k.ScaNN` does.
    spherical: partition by direction (spherical k-means), for unit-norm
      embeddings such as the towers'.
    training_iterations: k-means iterations of the partitioner.
    training_sample_size: items sampled to train the partitioner and the
      quantizer.
  """

  num_leaves: Optional[int] = None
  num_leaves_to_search: Optional[int] = None
  num_reordering_candidates: Optional[int] = None
  dimensions_per_block: int = 1
  anisotropic_quantization_threshold: Optional[float] = 0.2
  spherical: bool = True
  training_iterations: int = 12
  training_sample_size: int = 250_000

  def resolve(self, num_items: int, k: int) -> "ScaNNConfig":
    """Fills the None fields for a catalogue of `num_items` and depth `k`."""
    leaves = self.num_leaves or int(min(2000, max(1, round(math.sqrt(
        num_items)))))
    leaves = min(leaves, num_items)
    per_leaf = num_items / leaves
    reorder = self.num_reordering_candidates or min(num_items,
                                                    max(5 * k, 250))
    search = self.num_leaves_to_search or min(leaves, max(
        math.ceil(0.02 * leaves), math.ceil(max(10 * k, reorder) / per_leaf),
        1))
    for name, value in [("num_leaves", leaves), ("num_leaves_to_search",
                                                 search),
                        ("num_reordering_candidates", reorder),
                        ("dimensions_per_block", self.dimensions_per_block)]:
      if value < 1:
        raise ValueError(f"ScaNNConfig.{name} must be >= 1, got {value}.")
    if search > leaves:
      raise ValueError(f"ScaNNConfig.num_leaves_to_search ({search}) must be "
                       f"<= num_leaves ({leaves}).")
    return dataclasses.replace(self, num_leaves=leaves,
                               num_leaves_to_search=search,
                               num_reordering_candidates=reorder)


class ScaNN(tfrs.layers.factorized_top_k.ScaNN):
  """`tfrs.layers.factorized_top_k.ScaNN` with all of `ScaNNConfig`.

  The TFRS layer builds its searcher with `scann_ops.builder` but exposes
  neither the anisotropic-quantization threshold nor the training sample
  size; this layer builds the same kind of searcher (a TF op, exported in a
  SavedModel like the TFRS layer's) from a resolved `ScaNNConfig`.

  Args:
    config: resolved settings (`ScaNNConfig.resolve`).
    k: the default number of results.
    name: the layer name.
  """

  def __init__(self, config: ScaNNConfig, k: int = 10,
               name: Optional[str] = None) -> None:
    if config.num_leaves is None:
      raise ValueError("ScaNN needs a resolved ScaNNConfig "
                       "(ScaNNConfig.resolve(num_items, k)).")
    super().__init__(
        k=k, num_leaves=config.num_leaves,
        num_leaves_to_search=config.num_leaves_to_search,
        training_iterations=config.training_iterations,
        dimensions_per_block=config.dimensions_per_block,
        num_reordering_candidates=config.num_reordering_candidates,
        name=name)
    self.config = config
    self.scann_config_text = None

    def build_searcher(candidates):
      # Imported here: ScaNN is needed only when a ScaNN index is built.
      from scann.scann_ops.py import scann_ops  # pylint: disable=g-import-not-at-top
      threshold = config.anisotropic_quantization_threshold
      builder = scann_ops.builder(db=candidates, num_neighbors=k,
                                  distance_measure="dot_product")
      builder = builder.tree(
          num_leaves=config.num_leaves,
          num_leaves_to_search=config.num_leaves_to_search,
          training_sample_size=config.training_sample_size,
          training_iterations=config.training_iterations,
          spherical=config.spherical)
      builder = builder.score_ah(
          config.dimensions_per_block,
          anisotropic_quantization_threshold=(
              float("nan") if threshold is None else threshold),
          training_sample_size=config.training_sample_size)
      builder = builder.reorder(config.num_reordering_candidates)
      self.scann_config_text = builder.create_config()
      return builder.build(shared_name=f"{self.name}/{uuid.uuid4()}")

    self._build_searcher = build_searcher
