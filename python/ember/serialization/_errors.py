"""The one exception a checkpoint that cannot be read raises."""


class CheckpointError(RuntimeError):
    """A file ``ember.load`` cannot read: truncated, corrupt, hostile, or not a safetensors file.

    A ``RuntimeError``, as PyTorch's ``torch.load`` raises for a corrupt checkpoint, so code
    that catches ``RuntimeError`` around ``torch.load`` keeps working.
    """
