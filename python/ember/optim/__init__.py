"""``ember.optim``: optimizers and learning-rate schedulers, with PyTorch's names, arguments,
defaults and state keys. SGD, Adam, AdamW, RMSprop, Adagrad and Adamax step with one fused native
call per parameter group; NAdam, RAdam, Adadelta, Rprop and ASGD with tensor ops, one update per
parameter; LBFGS (optionally with a strong-Wolfe line search) over the flattened parameters.
``swa_utils`` has stochastic weight averaging (AveragedModel, SWALR, update_bn)."""

from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Adadelta", "Rprop", "ASGD", "LBFGS", "lr_scheduler", "swa_utils"]
