"""``Conv3d``: PyTorch's 3-D convolution layer over ``functional.conv3d`` (depth taps of conv2d)."""

from ._functional_more import conv3d
from .conv import _ConvNd


class Conv3d(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode {padding_mode!r} is not supported by ember yet")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, 3, dtype)
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        self.padding_mode = padding_mode

    def forward(self, input):
        return conv3d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
