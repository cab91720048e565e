"""``ember.nn``: modules, layers, activations and losses, as ``torch.nn``."""

from . import functional, init, utils
from .activation import ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, Mish, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .attention import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer
from .conv_transpose import ConvTranspose2d, conv_transpose2d as _conv_transpose2d
from .container import Flatten, ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential, Unflatten
from .conv import Conv1d, Conv2d
from .linear import Bilinear, Identity, Linear
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, RMSNorm
from .pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .sparse import Dropout, Embedding
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .module import Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .activation import (CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, LogSigmoid, PReLU, ReLU6, RReLU,
                         Softmax2d, Softmin, Softshrink, Softsign, Tanhshrink, Threshold)
from .distance import CosineSimilarity, PairwiseDistance
from .dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from .loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                   MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss)
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
                      ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                      ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .pixelshuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .attention import Transformer, TransformerDecoder, TransformerDecoderLayer
from ._layers_more import AvgPool3d, Conv3d, ConvTranspose1d, EmbeddingBag, LazyLinear, MaxPool3d, UninitializedParameter
from .norm import BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LocalResponseNorm, SyncBatchNorm
from .pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d
from .fold import Fold, Unfold

# conv_transpose2d is built on functional.conv2d, so it lives beside its module and is published
# as ``functional.conv_transpose2d`` here (importing it from functional.py would be circular).
if not hasattr(functional, "conv_transpose2d"):
    functional.conv_transpose2d = _conv_transpose2d

__all__ = [
    "functional", "init", "utils", "Module", "Parameter", "Identity", "Linear", "Bilinear", "Conv1d", "Conv2d",
    "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d",
    "BatchNorm2d", "LayerNorm", "RMSNorm", "GroupNorm", "Dropout", "Embedding", "Flatten", "Unflatten",
    "Sequential", "ModuleList", "ModuleDict", "MultiheadAttention", "TransformerEncoderLayer",
    "TransformerEncoder", "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
    "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Softplus", "Hardtanh", "Softmax",
    "LogSoftmax", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss",
    "BCEWithLogitsLoss", "KLDivLoss",
    # activations, distances, padding, shuffles, dropout, losses and parameter containers
    "PReLU", "SELU", "CELU", "GLU", "Hardswish", "Hardsigmoid", "ReLU6", "Softmax2d", "LogSigmoid", "Softmin",
    "Softsign", "Tanhshrink", "Threshold", "Hardshrink", "Softshrink", "RReLU", "CosineSimilarity",
    "PairwiseDistance", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "PixelShuffle", "PixelUnshuffle",
    "ChannelShuffle", "TripletMarginLoss", "MarginRankingLoss", "CosineEmbeddingLoss", "HingeEmbeddingLoss",
    "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "ParameterList", "ParameterDict",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
    "Conv3d", "ConvTranspose1d", "MaxPool3d", "AvgPool3d", "EmbeddingBag", "LazyLinear", "UninitializedParameter",
    "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Fold", "Unfold",
]


def __getattr__(name):
    # ember.nn.parallel (DistributedDataParallel) loads on first use, with ember.distributed.
    if name == "parallel":
        import importlib

        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module 'ember.nn' has no attribute '{name}'")
