"""``ConvTranspose2d`` and ``conv_transpose2d``: the adjoint of conv2d, as ``torch.nn.ConvTranspose2d``.

A transposed convolution is computed as an ordinary stride-1 convolution over the input with
``stride - 1`` zeros inserted between neighbouring pixels, padded by ``dilation * (k - 1) - padding``
(plus ``output_padding`` on the high side), with the kernel flipped and its in/out channels
swapped within each group. That reuses the native conv2d op and its gradient rule; the cost is
the wasted multiplications by the inserted zeros (a native kernel would skip them).
"""


from .. import _core
from .conv import reset_conv_parameters
from .functional import _pad_dim, conv2d
from .module import Module, Parameter


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _dilate(x, dim, s):
    """Inserts ``s - 1`` zeros between neighbouring entries of ``x`` along ``dim`` (differentiably)."""
    if s == 1:
        return x
    n = x.shape[dim]
    shape = list(x.shape)
    x = x.unsqueeze(dim + 1)
    zshape = shape[: dim + 1] + [s - 1] + shape[dim + 1:]
    z = _core.zeros(*zshape, dtype=x.dtype, device=x.device)
    # [.., n, 1, ..] ++ [.., n, s-1, ..] -> [.., n, s, ..] -> [.., n*s, ..], then drop the trailing zeros.
    x = _core.cat([x, z], dim=dim + 1)
    shape[dim] = n * s
    x = x.reshape(*shape)
    return x.narrow(dim, 0, (n - 1) * s + 1)


def _pad_or_crop(x, dim, lo, hi):
    """Zero-pads ``x`` along ``dim`` by ``lo``/``hi``; a negative amount crops instead."""
    if lo < 0:
        x = x.narrow(dim, -lo, x.shape[dim] + lo)
        lo = 0
    if hi < 0:
        x = x.narrow(dim, 0, x.shape[dim] + hi)
        hi = 0
    # The padding itself is functional.pad's zero-pad step.
    return _pad_dim(x, dim, lo, hi)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution; ``weight`` is ``[C_in, C_out / groups, kH, kW]`` as in PyTorch."""
    if input.dim() == 3:
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation).squeeze(0)
    if input.dim() != 4:
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: {tuple(input.shape)}")
    if weight.dim() != 4:
        raise RuntimeError(f"conv_transpose2d: weight must be 4D [C_in, C_out/groups, kH, kW], got {tuple(weight.shape)}")
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    c_in, oc_g, kh, kw = weight.shape
    if input.shape[1] != c_in:
        raise RuntimeError(f"conv_transpose2d: input has {input.shape[1]} channels but weight {tuple(weight.shape)} expects {c_in}")
    if c_in % groups:
        raise RuntimeError(f"conv_transpose2d: in_channels ({c_in}) is not divisible by groups ({groups})")
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, got output_padding={(oph, opw)}, stride={(sh, sw)}, dilation={(dh, dw)}")
    ic_g = c_in // groups
    # The equivalent conv2d weight: [groups * oc_g, ic_g, kH, kW], flipped in space.
    w = weight.reshape(groups, ic_g, oc_g, kh, kw).transpose(1, 2).reshape(groups * oc_g, ic_g, kh, kw).flip([2, 3])
    x = _dilate(_dilate(input, 2, sh), 3, sw)
    eh, ew = dh * (kh - 1), dw * (kw - 1)
    x = _pad_or_crop(x, 2, eh - ph, eh - ph + oph)
    x = _pad_or_crop(x, 3, ew - pw, ew - pw + opw)
    return conv2d(x, w, bias, 1, 0, (dh, dw), groups)


class _ConvTransposeNd(Module):
    """What ConvTranspose1d and ConvTranspose2d share: the arguments, parameters, initialisation
    and repr. One copy keeps the two layers' checks, state_dict keys and reprs from drifting
    apart; ``_ntuple`` and ``_n`` (set by each subclass) are the only differences."""

    _n = 2
    _ntuple = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode != "zeros":
            # The layer's own name in the message (not type(self), which a user subclass would change).
            raise ValueError(f'Only "zeros" padding mode is supported for {self._layer_name}, got {padding_mode!r}')
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        t = type(self)._ntuple
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = t(kernel_size), t(stride), t(padding)
        self.output_padding, self.dilation = t(output_padding), t(dilation)
        self.padding_mode = padding_mode
        self.weight = Parameter(_core.empty(in_channels, out_channels // groups, *self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(_core.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_conv_parameters(self)

    def extra_repr(self):
        n = self._n
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution (a "deconvolution") with PyTorch's arguments and initialisation."""

    _n, _ntuple, _layer_name = 2, staticmethod(_pair), "ConvTranspose2d"

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        size = list(output_size)[-2:]
        if len(size) != 2:
            raise ValueError(f"output_size must have 2 or 4 elements, got {len(list(output_size))}")
        op = []
        for d in range(2):
            n = input.shape[input.dim() - 2 + d]
            smallest = (n - 1) * self.stride[d] - 2 * self.padding[d] + self.dilation[d] * (self.kernel_size[d] - 1) + 1
            extra = size[d] - smallest
            if not 0 <= extra < max(self.stride[d], self.dilation[d]):
                raise ValueError(f"requested an output size of {tuple(size)}, but valid sizes range from {smallest} to {smallest + self.stride[d] - 1} in dim {d}")
            op.append(extra)
        return tuple(op)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation)


def _single(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution, as ``torch.nn.ConvTranspose1d`` (weight ``[C_in, C_out/groups, k]``)."""

    _n, _ntuple, _layer_name = 1, staticmethod(_single), "ConvTranspose1d"

    def forward(self, input, output_size=None):
        from ._functional_more import conv_transpose1d

        op = self.output_padding[0]
        if output_size is not None:
            size = list(output_size)[-1]
            n = input.shape[-1]
            s, p, d, k = self.stride[0], self.padding[0], self.dilation[0], self.kernel_size[0]
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            op = size - smallest
            if not 0 <= op < max(s, d):
                raise ValueError(f"requested an output size of {[size]}, but valid sizes range from {smallest} to {smallest + s - 1} (for an input of {list(input.shape)[-1:]})")
        return conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation)
