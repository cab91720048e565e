"""``ember.utils.data``: the same objects as :mod:`ember.data`, under PyTorch's
``torch.utils.data`` path, so ported code imports unchanged.

A plain re-export (not a module alias) so that every class exists exactly once and
isinstance checks agree whichever path it was imported through.
"""

from ember.data import *  # noqa: F401,F403
from ember.data import __all__  # noqa: F401
from ember.data import dataloader, dataset, sampler  # noqa: F401  (torch.utils.data.<module>)
