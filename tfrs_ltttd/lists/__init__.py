"""Training examples: candidate lists, retrieval pairs, their streams."""

from tfrs_ltttd.lists.build import PAD_LABEL, build_lists, build_pairs, list_part
from tfrs_ltttd.lists.datasets import (add_in_batch_negatives, make_dataset,
                                       make_joint_dataset, write_examples)
from tfrs_ltttd.lists.negatives import NegativeSampler
