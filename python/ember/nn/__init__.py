"""``ember.nn``: modules, layers, activations and losses, as ``torch.nn``."""

from . import functional, init, utils
from .activation import ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, Mish, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .layers import (
    AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, Bilinear, Conv1d, Conv2d, Dropout,
    Embedding, Flatten, GroupNorm, Identity, LayerNorm, Linear, MaxPool1d, MaxPool2d, ModuleDict, ModuleList,
    RMSNorm, Sequential, Unflatten,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .module import Module, Parameter

__all__ = [
    "functional", "init", "utils", "Module", "Parameter", "Identity", "Linear", "Bilinear", "Conv1d", "Conv2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "LayerNorm", "RMSNorm", "GroupNorm", "Dropout", "Embedding", "Flatten", "Unflatten", "Sequential",
    "ModuleList", "ModuleDict", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
    "Softplus", "Hardtanh", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
    "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss",
]
