"""The exception types of ``torch.distributed``, so ported ``except`` clauses catch ours."""


class DistError(RuntimeError):
    """Base of the errors of the distributed package."""


class DistBackendError(DistError):
    """A collective failed or missed its deadline (a peer died, stalled or skipped it)."""


class DistNetworkError(DistError):
    """The transport between ranks failed."""


class DistStoreError(DistError):
    """Rendezvous between ranks failed."""
