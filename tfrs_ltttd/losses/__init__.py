"""Losses of the LT-TTD objective: listwise ranking and distillation."""

from tfrs_ltttd.losses.distillation import list_kl_divergence
from tfrs_ltttd.losses.listwise import (RANKING_LOSSES, ApproxNDCGLoss,
                                        ListMLELoss, PairwiseLogisticLoss,
                                        SoftmaxLoss, ranking_loss)
