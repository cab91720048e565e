"""``ember.backends`` (torch.backends): the switches PyTorch programs set for cuDNN, TF32 and
MPS, with ember's truthful answers. ember has no cuDNN, TF32 or MPS backend: the flags are kept
so programs that set them run, and the ``is_available()`` answers say what is there."""

from types import SimpleNamespace

from .. import _settings


class _CudnnFlags(SimpleNamespace):
    def is_available(self):
        return False

    def version(self):
        return None


cudnn = _CudnnFlags(enabled=True, benchmark=False, deterministic=False, allow_tf32=True)


class _MatmulFlags:
    """``backends.cuda.matmul.allow_tf32`` mirrors set_float32_matmul_precision, as in PyTorch."""

    @property
    def allow_tf32(self):
        return _settings.get_float32_matmul_precision() != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value):
        _settings.set_float32_matmul_precision("high" if value else "highest")

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


class _CudaFlags(SimpleNamespace):
    def is_built(self):
        return False


cuda = _CudaFlags(matmul=_MatmulFlags())


class _MpsFlags:
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


mps = _MpsFlags()


class _OpenMP:
    @staticmethod
    def is_available():
        return False  # ember's CPU kernels run on rayon's thread pool, not OpenMP


openmp = _OpenMP()
mkldnn = SimpleNamespace(enabled=False, is_available=lambda: False)
