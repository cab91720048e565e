"""The bad-input battery: malformed calls across creation, views, indexing, op families, nn
layers, losses, optimizers and data, each held to PyTorch's exception type and to a message that
names what is at fault.

All calls of one device run in one child interpreter, each reporting before the next starts, so
a crash (a segfault, an abort, a panic that escapes) fails the test of the call that caused it
instead of killing the run.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import DEVICES

# (id, code, PyTorch's exception type, a fragment the message must contain). `D` is the device
# string; `E` is ember. Each call runs in a fresh namespace.
CASES = [
    # ---- creation ----
    ("zeros-negative", "E.zeros(-1, device=D)", "RuntimeError", "-1"),
    ("ones-negative", "E.ones(2, -3, device=D)", "RuntimeError", "-3"),
    ("full-negative", "E.full((-2,), 1.0, device=D)", "RuntimeError", "-2"),
    ("randn-negative", "E.randn(-1, device=D)", "RuntimeError", "-1"),
    ("randint-empty-range", "E.randint(5, 2, (3,), device=D)", "RuntimeError", ""),
    ("arange-zero-step", "E.arange(0, 10, 0, device=D)", "RuntimeError", "step"),
    ("arange-wrong-sign", "E.arange(10, 0, 1, device=D)", "RuntimeError", ""),
    ("linspace-negative", "E.linspace(0, 1, -1, device=D)", "RuntimeError", "-1"),
    ("eye-negative", "E.eye(-1, device=D)", "RuntimeError", "-1"),
    ("zeros-str-size", "E.zeros('a')", "TypeError", ""),
    ("zeros-float-size", "E.zeros(2.5)", "TypeError", ""),
    ("ragged", "E.tensor([[1, 2], [3]], device=D)", "ValueError", ""),
    ("mixed-str", "E.tensor([1, 'a'])", "TypeError", "str"),
    ("object", "E.tensor(object())", "RuntimeError", "Could not infer dtype of object"),
    ("unknown-device", "E.zeros(2, device='tpu')", "RuntimeError", "tpu"),
    ("randperm-negative", "E.randperm(-1, device=D)", "RuntimeError", "-1"),
    ("multinomial-zero-sum", "E.multinomial(E.tensor([0.0, 0.0], device=D), 1)", "RuntimeError", ""),
    ("multinomial-too-many", "E.multinomial(E.tensor([0.5, 0.5], device=D), 3)", "RuntimeError", ""),
    ("full-str", "E.full((2,), 'a')", "TypeError", ""),
    ("tril-1d", "E.tril(E.ones(3, device=D))", "RuntimeError", ""),
    ("from-numpy-list", "E.from_numpy([1, 2])", "TypeError", "np.ndarray"),
    # ---- views ----
    ("view-numel", "E.ones(2, 3, device=D).view(4, 2)", "RuntimeError", "[4, 2]"),
    ("view-two-minus-one", "E.ones(2, 3, device=D).view(-1, -1)", "RuntimeError", "only one dimension can be inferred"),
    ("reshape-numel", "E.ones(2, 3, device=D).reshape(5)", "RuntimeError", "[5]"),
    ("view-of-transpose", "E.ones(2, 3, device=D).t().view(6)", "RuntimeError", "reshape"),
    ("permute-repeat", "E.ones(2, 3, device=D).permute(0, 0)", "RuntimeError", ""),
    ("permute-short", "E.ones(2, 3, device=D).permute(0)", "RuntimeError", ""),
    ("transpose-dim", "E.ones(2, 3, device=D).transpose(0, 5)", "IndexError", "5"),
    ("squeeze-dim", "E.ones(2, 3, device=D).squeeze(4)", "IndexError", "4"),
    ("unsqueeze-dim", "E.ones(2, 3, device=D).unsqueeze(4)", "IndexError", "4"),
    ("expand-size", "E.ones(2, 3, device=D).expand(3, 3)", "RuntimeError", "3"),
    ("expand-fewer", "E.ones(2, 3, device=D).expand(3)", "RuntimeError", ""),
    ("flatten-order", "E.ones(2, 3, device=D).flatten(1, 0)", "RuntimeError", "start_dim cannot come after end_dim"),
    ("flatten-dim", "E.ones(2, 3, device=D).flatten(0, 5)", "IndexError", "5"),
    ("narrow-past-end", "E.ones(2, 3, device=D).narrow(0, 1, 5)", "RuntimeError", "exceeds dimension size (2)"),
    ("narrow-dim", "E.ones(2, 3, device=D).narrow(3, 0, 1)", "IndexError", "3"),
    ("select-index", "E.ones(2, 3, device=D).select(0, 5)", "IndexError", "5"),
    ("split-zero", "E.ones(2, 3, device=D).split(0)", "RuntimeError", ""),
    ("chunk-zero", "E.ones(2, 3, device=D).chunk(0)", "RuntimeError", ""),
    ("repeat-fewer", "E.ones(2, 3, device=D).repeat(2)", "RuntimeError", ""),
    ("repeat-negative", "E.ones(2, 3, device=D).repeat(-1, 1)", "RuntimeError", "-1"),
    ("flip-dim", "E.ones(2, 3, device=D).flip(3)", "IndexError", "3"),
    ("roll-dim", "E.ones(2, 3, device=D).roll(1, 3)", "IndexError", "3"),
    ("unbind-dim", "E.ones(2, 3, device=D).unbind(3)", "IndexError", "3"),
    ("unflatten-size", "E.ones(6, device=D).unflatten(0, (4, -1))", "RuntimeError", ""),
    # ---- indexing ----
    ("int-past-end", "E.ones(2, 3, device=D)[5]", "IndexError", "5"),
    ("int-past-end-dim1", "E.ones(2, 3, device=D)[:, 7]", "IndexError", "7"),
    ("too-many-indices", "E.ones(2, 3, device=D)[0, 0, 0]", "IndexError", ""),
    ("str-index", "E.ones(2, 3, device=D)['a']", "IndexError", "str"),
    ("float-index", "E.ones(2, 3, device=D)[1.5]", "IndexError", "float"),
    ("tensor-index-past-end", "E.ones(2, 3, device=D)[E.tensor([5], device=D)]", "IndexError", "5"),
    ("float-tensor-index", "E.ones(2, 3, device=D)[E.tensor([0.5], device=D)]", "IndexError", ""),
    ("mask-length", "E.ones(2, 3, device=D)[E.tensor([True, False, True], device=D)]", "IndexError", ""),
    ("two-ellipses", "E.ones(2, 3, device=D)[..., ...]", "IndexError", "single ellipsis"),
    ("negative-step", "E.ones(2, 3, device=D)[::-1]", "ValueError", "step"),
    ("zero-step", "E.ones(2, 3, device=D)[::0]", "ValueError", "step"),
    ("setitem-past-end", "x = E.ones(2, 3, device=D); x[5] = 1", "IndexError", "5"),
    ("setitem-shape", "x = E.ones(2, 3, device=D); x[0] = E.ones(4, device=D)", "RuntimeError", ""),
    ("setitem-str", "x = E.ones(2, 3, device=D); x[0] = 'a'", "TypeError", ""),
    ("gather-past-end", "E.ones(2, 3, device=D).gather(1, E.tensor([[5]], device=D))", "RuntimeError", "5"),
    ("gather-float-index", "E.ones(2, 3, device=D).gather(1, E.tensor([[0.0]], device=D))", "RuntimeError", ""),
    ("gather-dim", "E.ones(2, 3, device=D).gather(3, E.tensor([[0]], device=D))", "IndexError", "3"),
    ("index-select-past-end", "E.ones(2, 3, device=D).index_select(0, E.tensor([9], device=D))", "IndexError", "9"),
    ("scatter-past-end", "E.ones(2, 3, device=D).scatter(1, E.tensor([[7]], device=D), 1.0)", "RuntimeError", "7"),
    ("masked-fill-float-mask", "E.ones(2, 3, device=D).masked_fill(E.ones(2, 3, device=D), 0.0)", "RuntimeError", ""),
    ("masked-fill-shape", "E.ones(2, 3, device=D).masked_fill(E.ones(4, dtype=E.bool, device=D), 0.0)", "RuntimeError", ""),
    ("where-shapes", "E.where(E.ones(2, dtype=E.bool, device=D), E.ones(3, device=D), E.ones(2, device=D))", "RuntimeError", ""),
    # ---- op families ----
    ("add-broadcast", "E.ones(2, 3, device=D) + E.ones(4, device=D)", "RuntimeError", "(4)"),
    ("mul-broadcast", "E.ones(2, 3, device=D) * E.ones(2, 4, device=D)", "RuntimeError", ""),
    ("add-str", "E.ones(2, 3, device=D) + 'a'", "TypeError", ""),
    ("add-none", "E.ones(2, 3, device=D) + None", "TypeError", ""),
    ("matmul-inner", "E.ones(2, 3, device=D) @ E.ones(2, 3, device=D)", "RuntimeError", "2x3"),
    ("matmul-1d", "E.ones(3, device=D) @ E.ones(4, device=D)", "RuntimeError", ""),
    ("matmul-0d", "E.ones((), device=D) @ E.ones(3, device=D)", "RuntimeError", ""),
    ("mm-1d", "E.mm(E.ones(3, device=D), E.ones(3, device=D))", "RuntimeError", ""),
    ("bmm-2d", "E.bmm(E.ones(2, 3, device=D), E.ones(3, 2, device=D))", "RuntimeError", ""),
    ("bmm-batch", "E.bmm(E.ones(2, 2, 3, device=D), E.ones(3, 3, 2, device=D))", "RuntimeError", ""),
    ("dot-size", "E.dot(E.ones(3, device=D), E.ones(4, device=D))", "RuntimeError", ""),
    ("dot-2d", "E.dot(E.ones(3, 1, device=D), E.ones(3, 1, device=D))", "RuntimeError", ""),
    ("sum-dim", "E.ones(2, 3, device=D).sum(5)", "IndexError", "5"),
    ("sum-repeated-dim", "E.ones(2, 3, device=D).sum((0, 0))", "RuntimeError", ""),
    ("mean-of-int", "E.ones(2, 3, dtype=E.int64, device=D).mean()", "RuntimeError", ""),
    ("max-of-empty", "E.ones(0, device=D).max()", "RuntimeError", ""),
    ("argmax-of-empty", "E.ones(0, device=D).argmax()", "RuntimeError", ""),
    ("max-dim-of-empty", "E.ones(2, 0, device=D).max(1)", "IndexError", "reduction dim 1 to have non-zero size"),
    ("argmin-dim-of-empty", "E.ones(2, 0, device=D).argmin(1)", "IndexError", "non-zero size"),
    ("topk-k", "E.ones(2, 3, device=D).topk(5)", "RuntimeError", ""),
    ("topk-dim", "E.ones(2, 3, device=D).topk(1, dim=3)", "IndexError", "3"),
    ("softmax-dim", "E.ones(2, 3, device=D).softmax(3)", "IndexError", "3"),
    ("cumsum-dim", "E.ones(2, 3, device=D).cumsum(3)", "IndexError", "3"),
    ("sort-dim", "E.ones(2, 3, device=D).sort(3)", "IndexError", "3"),
    ("std-dim", "E.ones(2, 3, device=D).std(3)", "IndexError", "3"),
    ("cat-shapes", "E.cat([E.ones(2, 3, device=D), E.ones(2, 4, device=D)])", "RuntimeError", ""),
    ("cat-empty-list", "E.cat([])", "RuntimeError", ""),
    ("cat-ranks", "E.cat([E.ones(2, device=D), E.ones(2, 2, device=D)])", "RuntimeError", ""),
    ("cat-dim", "E.cat([E.ones(2, 3, device=D)], dim=5)", "IndexError", "5"),
    ("cat-a-tensor", "E.cat(E.ones(2, device=D))", "TypeError", "Tensors"),
    ("stack-shapes", "E.stack([E.ones(2, device=D), E.ones(3, device=D)])", "RuntimeError", ""),
    ("stack-empty-list", "E.stack([])", "RuntimeError", ""),
    ("stack-a-tensor", "E.stack(E.ones(2, 2, device=D))", "TypeError", "Tensors"),
    ("clamp-no-bounds", "E.ones(2, 3, device=D).clamp()", "RuntimeError", "At least one of 'min' or 'max'"),
    ("bitwise-of-float", "E.ones(2, device=D) & E.ones(2, device=D)", "RuntimeError", ""),
    ("invert-float", "~E.ones(2, device=D)", "RuntimeError", ""),
    ("bool-sub", "E.ones(2, dtype=E.bool, device=D) - E.ones(2, dtype=E.bool, device=D)", "RuntimeError", ""),
    ("bool-neg", "-E.ones(2, dtype=E.bool, device=D)", "RuntimeError", ""),
    ("inplace-float-into-int", "x = E.ones(2, dtype=E.int64, device=D); x += 1.5", "RuntimeError", ""),
    ("inplace-broadcast-grows", "x = E.ones(2, device=D); x += E.ones(2, 2, device=D)", "RuntimeError", ""),
    ("item-of-many", "E.ones(2, 3, device=D).item()", "RuntimeError", ""),
    ("float-of-many", "float(E.ones(2, device=D))", "RuntimeError", ""),
    ("bool-of-many", "bool(E.ones(2, device=D))", "RuntimeError", ""),
    ("len-of-0d", "len(E.tensor(1.0, device=D))", "TypeError", ""),
    ("iter-of-0d", "iter(E.tensor(1.0, device=D))", "TypeError", ""),
    ("to-unknown-device", "E.ones(2, 3, device=D).to('tpu')", "RuntimeError", "tpu"),
    ("einsum-operands", "E.einsum('ij,jk', E.ones(2, 3, device=D))", "RuntimeError", ""),
    ("pow-broadcast", "E.ones(2, 3, device=D).pow(E.ones(4, device=D))", "RuntimeError", ""),
    ("pow-str", "E.pow(E.ones(2, device=D), 'a')", "TypeError", ""),
    # ---- autograd ----
    ("backward-non-scalar", "E.ones(2, device=D, requires_grad=True).mul(2).backward()", "RuntimeError", "scalar"),
    ("backward-twice", "x = E.ones(2, device=D, requires_grad=True); y = (x * x).sum(); y.backward(); y.backward()", "RuntimeError", ""),
    ("int-requires-grad", "E.ones(2, dtype=E.int64, device=D, requires_grad=True)", "RuntimeError", ""),
    ("leaf-inplace", "x = E.ones(2, device=D, requires_grad=True); x.add_(1)", "RuntimeError", "leaf"),
    ("grad-unused-input", "E.autograd.grad(E.ones(2, device=D, requires_grad=True).sum(), [E.ones(2, device=D)])", "RuntimeError", ""),
    # ---- nn layers given the wrong rank, size or dtype ----
    ("linear-features", "E.nn.Linear(3, 4).to(D)(E.ones(2, 5, device=D))", "RuntimeError", ""),
    ("linear-0d", "E.nn.Linear(3, 4).to(D)(E.ones((), device=D))", "RuntimeError", ""),
    ("linear-3d-weight", "E.nn.functional.linear(E.ones(2, 3, device=D), E.ones(1, 4, 3, device=D))", "RuntimeError", "weight"),
    ("conv2d-3d-input-channels", "E.nn.Conv2d(3, 4, 3).to(D)(E.ones(2, 3, 5, device=D))", "RuntimeError", ""),
    ("conv2d-channels", "E.nn.Conv2d(3, 4, 3).to(D)(E.ones(1, 2, 5, 5, device=D))", "RuntimeError", ""),
    ("conv2d-too-small", "E.nn.Conv2d(3, 4, 3).to(D)(E.ones(1, 3, 2, 2, device=D))", "RuntimeError", ""),
    ("conv2d-2d-input", "E.nn.Conv2d(3, 4, 3).to(D)(E.ones(1, 3, device=D))", "RuntimeError", ""),
    ("conv2d-3d-weight", "E.nn.functional.conv2d(E.ones(1, 3, 4, 4, device=D), E.ones(2, 3, 3, device=D))", "RuntimeError", "weight"),
    ("conv2d-zero-kernel", "E.nn.Conv2d(3, 4, 0).to(D)(E.ones(1, 3, 5, 5, device=D))", "RuntimeError", "kernel"),
    ("conv2d-zero-stride", "E.nn.Conv2d(3, 4, 3, stride=0).to(D)(E.ones(1, 3, 5, 5, device=D))", "RuntimeError", "stride"),
    ("conv2d-groups", "E.nn.Conv2d(3, 4, 3, groups=2)", "ValueError", "groups"),
    ("conv1d-2d-input", "E.nn.Conv1d(3, 4, 3).to(D)(E.ones(1, 3, device=D))", "RuntimeError", ""),
    ("conv1d-channels", "E.nn.Conv1d(3, 4, 3).to(D)(E.ones(1, 2, 5, device=D))", "RuntimeError", ""),
    ("conv-transpose2d-rank", "E.nn.ConvTranspose2d(3, 4, 3).to(D)(E.ones(1, 3, 5, device=D))", "RuntimeError", ""),
    ("maxpool2d-1d", "E.nn.MaxPool2d(2)(E.ones(5, device=D))", "RuntimeError", ""),
    ("maxpool2d-too-small", "E.nn.MaxPool2d(2)(E.ones(1, 1, 1, 1, device=D))", "RuntimeError", ""),
    ("maxpool2d-zero-kernel", "E.nn.MaxPool2d(0)(E.ones(1, 1, 4, 4, device=D))", "RuntimeError", ""),
    ("maxpool2d-padding", "E.nn.functional.max_pool2d(E.ones(1, 1, 4, 4, device=D), 2, padding=2)", "RuntimeError", ""),
    ("avgpool2d-1d", "E.nn.AvgPool2d(2)(E.ones(5, device=D))", "RuntimeError", ""),
    ("adaptive-avgpool2d-1d", "E.nn.AdaptiveAvgPool2d(2)(E.ones(5, device=D))", "RuntimeError", "[5]"),
    ("adaptive-avgpool2d-zero", "E.nn.AdaptiveAvgPool2d(0)(E.ones(1, 1, 4, 4, device=D))", "RuntimeError", "output_size"),
    ("batchnorm1d-features", "E.nn.BatchNorm1d(3).to(D)(E.ones(4, 5, device=D))", "RuntimeError", ""),
    ("batchnorm1d-1d", "E.nn.BatchNorm1d(3).to(D)(E.ones(4, device=D))", "ValueError", ""),
    ("batchnorm2d-2d", "E.nn.BatchNorm2d(3).to(D)(E.ones(4, 3, device=D))", "ValueError", ""),
    ("batchnorm1d-one-value", "E.nn.BatchNorm1d(3).to(D)(E.ones(1, 3, device=D))", "ValueError", "more than 1 value"),
    ("layernorm-shape", "E.nn.LayerNorm(3).to(D)(E.ones(4, 5, device=D))", "RuntimeError", "normalized_shape"),
    ("groupnorm-groups", "E.nn.GroupNorm(2, 4).to(D)(E.ones(2, 3, 5, device=D))", "RuntimeError", "num_groups"),
    ("groupnorm-indivisible", "E.nn.GroupNorm(3, 4)", "ValueError", ""),
    ("groupnorm-1d", "E.nn.GroupNorm(2, 4).to(D)(E.ones(4, device=D))", "RuntimeError", "at least 2 dimensions"),
    ("embedding-past-end", "E.nn.Embedding(3, 2).to(D)(E.tensor([3], device=D))", "IndexError", "3"),
    ("embedding-float-index", "E.nn.Embedding(3, 2).to(D)(E.tensor([0.5], device=D))", "RuntimeError", ""),
    ("embedding-1d-weight", "E.nn.functional.embedding(E.tensor([0], device=D), E.ones(3, device=D))", "RuntimeError", "2-D"),
    ("rnn-features", "E.nn.RNN(3, 4).to(D)(E.ones(5, 2, 2, device=D))", "RuntimeError", ""),
    ("rnn-1d", "E.nn.RNN(3, 4).to(D)(E.ones(3, device=D))", "ValueError", ""),
    ("lstm-4d", "E.nn.LSTM(3, 4).to(D)(E.ones(5, 3, 3, 3, device=D))", "ValueError", ""),
    ("gru-hidden-batch", "E.nn.GRU(3, 4).to(D)(E.ones(5, 2, 3, device=D), E.ones(1, 3, 4, device=D))", "RuntimeError", ""),
    ("mha-heads", "E.nn.MultiheadAttention(4, 3)", "AssertionError", "divisible"),
    ("mha-embed-dim", "E.nn.MultiheadAttention(4, 2).to(D)(*[E.ones(2, 3, 5, device=D)] * 3)", "AssertionError", "embedding dimension of 4"),
    ("mha-1d", "E.nn.MultiheadAttention(4, 2).to(D)(*[E.ones(4, device=D)] * 3)", "AssertionError", "1-D query"),
    ("sdpa-shapes", "E.nn.functional.scaled_dot_product_attention(E.ones(2, 3, 4, device=D), E.ones(2, 3, 5, device=D), E.ones(2, 3, 4, device=D))", "RuntimeError", ""),
    ("unflatten-layer", "E.nn.Unflatten(1, (2, 2))(E.ones(2, 3, device=D))", "RuntimeError", ""),
    ("dropout-p", "E.nn.Dropout(1.5)", "ValueError", "1.5"),
    ("dropout-functional-p", "E.nn.functional.dropout(E.ones(3, device=D), p=2.0)", "ValueError", "2.0"),
    ("softmax-layer-dim", "E.nn.Softmax(dim=3)(E.ones(2, 3, device=D))", "IndexError", "3"),
    ("sequential-shapes", "E.nn.Sequential(E.nn.Linear(2, 3)).to(D)(E.ones(2, 3, device=D))", "RuntimeError", ""),
    ("sequential-index", "E.nn.Sequential()[3]", "IndexError", "3"),
    ("modulelist-index", "E.nn.ModuleList()[3]", "IndexError", "3"),
    ("gelu-approximate", "E.nn.functional.gelu(E.ones(2, device=D), approximate='x')", "RuntimeError", "none or tanh"),
    ("one-hot-too-large", "E.nn.functional.one_hot(E.tensor([3], device=D), 3)", "RuntimeError", "smaller than num_classes"),
    ("one-hot-negative", "E.nn.functional.one_hot(E.tensor([-1], device=D))", "RuntimeError", "non-negative"),
    ("one-hot-float", "E.nn.functional.one_hot(E.tensor([0.5], device=D))", "RuntimeError", "index tensor"),
    ("pad-odd-length", "E.nn.functional.pad(E.ones(2, device=D), (1,))", "RuntimeError", "divisible by 2"),
    ("pad-too-long", "E.nn.functional.pad(E.ones(2, device=D), (1, 1, 1, 1))", "RuntimeError", "two times the input dimension"),
    ("pad-crops-too-much", "E.nn.functional.pad(E.ones(2, device=D), (-3, 0))", "RuntimeError", "negative output size"),
    # ---- losses ----
    ("mse-shapes", "E.nn.MSELoss()(E.ones(2, 3, device=D), E.ones(4, device=D))", "RuntimeError", ""),
    ("l1-shapes", "E.nn.L1Loss()(E.ones(2, 3, device=D), E.ones(4, device=D))", "RuntimeError", ""),
    ("ce-target-past-end", "E.nn.CrossEntropyLoss()(E.ones(2, 3, device=D), E.tensor([0, 5], device=D))", "IndexError", "5"),
    ("ce-batch", "E.nn.CrossEntropyLoss()(E.ones(2, 3, device=D), E.tensor([0], device=D))", "ValueError", "batch_size"),
    ("ce-float-target-shape", "E.nn.CrossEntropyLoss()(E.ones(2, 3, device=D), E.tensor([0.5, 0.5], device=D))", "RuntimeError", ""),
    ("ce-spatial-target", "E.nn.CrossEntropyLoss()(E.ones(2, 3, 4, device=D), E.tensor([0, 1], device=D))", "RuntimeError", "Expected target size [2, 4]"),
    ("ce-reduction", "E.nn.CrossEntropyLoss(reduction='x')(E.ones(2, 3, device=D), E.tensor([0, 1], device=D))", "ValueError", "reduction"),
    ("ce-weight", "E.nn.CrossEntropyLoss(weight=E.ones(4, device=D))(E.ones(2, 3, device=D), E.tensor([0, 1], device=D))", "RuntimeError", "weight"),
    ("ce-label-smoothing", "E.nn.functional.cross_entropy(E.ones(2, 3, device=D), E.tensor([0, 1], device=D), label_smoothing=2.0)", "RuntimeError", "label_smoothing"),
    ("nll-target-past-end", "E.nn.NLLLoss()(E.ones(2, 3, device=D), E.tensor([0, 3], device=D))", "IndexError", "Target 3 is out of bounds"),
    ("nll-target-negative", "E.nn.NLLLoss()(E.ones(2, 3, device=D), E.tensor([0, -2], device=D))", "IndexError", "Target -2 is out of bounds"),
    ("nll-batch", "E.nn.NLLLoss()(E.ones(3, device=D), E.tensor([0, 1], device=D))", "ValueError", ""),
    ("bce-shapes", "E.nn.BCELoss()(E.ones(2, device=D), E.ones(3, device=D))", "ValueError", "target size"),
    ("bce-range", "E.nn.BCELoss()(E.tensor([2.0], device=D), E.ones(1, device=D))", "RuntimeError", "between 0 and 1"),
    ("bce-logits-shapes", "E.nn.BCEWithLogitsLoss()(E.ones(2, device=D), E.ones(3, device=D))", "ValueError", "target size"),
    ("kl-shapes", "E.nn.KLDivLoss()(E.ones(2, device=D), E.ones(3, device=D))", "RuntimeError", ""),
    ("smooth-l1-shapes", "E.nn.SmoothL1Loss()(E.ones(2, device=D), E.ones(3, device=D))", "RuntimeError", ""),
    ("huber-delta", "E.nn.HuberLoss(delta=-1)(E.ones(2, device=D), E.ones(2, device=D))", "RuntimeError", "delta"),
    # ---- modules, state dicts, utilities ----
    ("load-state-dict-shape", "m = E.nn.Linear(2, 2); m.load_state_dict({'weight': E.ones(3, 3), 'bias': E.ones(2)})", "RuntimeError", "size mismatch"),
    ("load-state-dict-missing", "m = E.nn.Linear(2, 2); m.load_state_dict({'weight': E.ones(2, 2)})", "RuntimeError", "bias"),
    ("load-state-dict-unexpected", "m = E.nn.Linear(2, 2); m.load_state_dict({'weight': E.ones(2, 2), 'bias': E.ones(2), 'x': E.ones(1)})", "RuntimeError", "x"),
    ("register-buffer-over-parameter", "E.nn.Linear(2, 2).register_buffer('weight', E.ones(1))", "KeyError", "already exists"),
    ("register-parameter-dotted", "E.nn.Linear(2, 2).register_parameter('a.b', None)", "KeyError", "."),
    ("register-buffer-empty", "E.nn.Linear(2, 2).register_buffer('', None)", "KeyError", "empty"),
    ("assign-tensor-to-parameter", "m = E.nn.Linear(2, 2); m.weight = E.ones(2, 2)", "TypeError", "weight"),
    ("module-unknown-device", "E.nn.Linear(2, 2).to('tpu')", "RuntimeError", "tpu"),
    ("get-submodule", "E.nn.Linear(2, 2).get_submodule('x')", "AttributeError", "x"),
    ("clip-grad-norm-str", "E.nn.utils.clip_grad_norm_([E.ones(2, requires_grad=True)], 'a')", "ValueError", "'a'"),
    # ---- optimizers ----
    ("sgd-no-params", "E.optim.SGD([], lr=0.1)", "ValueError", "empty"),
    ("sgd-negative-lr", "E.optim.SGD([E.ones(2, requires_grad=True)], lr=-1)", "ValueError", "-1"),
    ("sgd-negative-momentum", "E.optim.SGD([E.ones(2, requires_grad=True)], lr=0.1, momentum=-1)", "ValueError", "-1"),
    ("adam-beta", "E.optim.Adam([E.ones(2, requires_grad=True)], betas=(1.5, 0.9))", "ValueError", "1.5"),
    ("adam-eps", "E.optim.Adam([E.ones(2, requires_grad=True)], eps=-1)", "ValueError", "-1"),
    ("adamw-weight-decay", "E.optim.AdamW([E.ones(2, requires_grad=True)], weight_decay=-1)", "ValueError", "-1"),
    ("sgd-a-tensor", "E.optim.SGD(E.ones(2, requires_grad=True), lr=0.1)", "TypeError", ""),
    ("optimizer-state-groups", "o = E.optim.SGD([E.ones(2, requires_grad=True)], lr=0.1); o.load_state_dict({'state': {}, 'param_groups': []})", "ValueError", ""),
    # ---- data ----
    ("loader-batch-size-zero", "E.utils.data.DataLoader([1, 2], batch_size=0)", "ValueError", "batch_size"),
    ("loader-negative-workers", "E.utils.data.DataLoader([1, 2], num_workers=-1)", "ValueError", "num_workers"),
    ("loader-shuffle-and-sampler", "E.utils.data.DataLoader([1, 2], shuffle=True, sampler=[0, 1])", "ValueError", "sampler"),
    ("loader-negative-timeout", "E.utils.data.DataLoader([1, 2], timeout=-1)", "ValueError", "timeout"),
    ("loader-prefetch-without-workers", "E.utils.data.DataLoader([1, 2], prefetch_factor=2)", "ValueError", "prefetch_factor"),
    ("random-split-lengths", "E.utils.data.random_split([1, 2, 3], [2, 2])", "ValueError", ""),
    ("tensor-dataset-sizes", "E.utils.data.TensorDataset(E.ones(2), E.ones(3))", "AssertionError", ""),
    ("collate-shapes", "list(E.utils.data.DataLoader([E.ones(2), E.ones(3)], batch_size=2))", "RuntimeError", ""),
    ("subset-index", "E.utils.data.Subset([1, 2], [5])[0]", "IndexError", ""),
]

_CHILD = r'''
import json, sys
import ember as E
D = sys.argv[1]
for case_id, code in json.loads(sys.stdin.read()):
    print(json.dumps({"start": case_id}), flush=True)
    try:
        exec(code, {"E": E, "D": D})
        if D != "cpu":
            E.gpu.synchronize()  # a bad index a GPU kernel flagged raises at the next wait
        result = {"id": case_id, "type": None, "message": ""}
    except Exception as e:  # a BaseException (a panic) escapes and fails its case
        result = {"id": case_id, "type": type(e).__name__, "message": str(e)}
    print(json.dumps(result), flush=True)
'''


def _run_battery(device):
    """Runs every case on `device` in one child; returns {id: outcome}. A case the child died
    in gets the child's exit code and the tail of its stderr."""
    todo = [(c[0], c[1]) for c in CASES]
    results = {}
    while todo:
        p = subprocess.run([sys.executable, "-c", _CHILD, device], input=json.dumps(todo),
                           capture_output=True, text=True, timeout=300)
        started = None
        for line in p.stdout.splitlines():
            msg = json.loads(line)
            if "start" in msg:
                started = msg["start"]
            else:
                results[msg["id"]] = msg
                started = None
        if started is None:
            break
        results[started] = {"id": started, "type": f"crash (exit {p.returncode})", "message": p.stderr[-500:]}
        todo = todo[[c[0] for c in todo].index(started) + 1:]  # the rest run in a fresh child
    return results


@pytest.fixture(scope="module")
def battery():
    cache = {}

    def get(device):
        if device not in cache:
            cache[device] = _run_battery(device)
        return cache[device]
    return get


@pytest.mark.parametrize("case_id,code,expected,fragment", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("device", DEVICES)
def test_bad_input_raises_pytorchs_exception(battery, device, case_id, code, expected, fragment):
    outcome = battery(device)[case_id]
    assert outcome["type"] == expected, f"{code}: expected {expected}, got {outcome['type']}: {outcome['message']}"
    assert fragment in outcome["message"], f"{code}: message {outcome['message']!r} does not mention {fragment!r}"


def test_the_battery_notices_a_crash():
    """The runner reports a child that dies mid-case as that case's failure, and goes on."""
    global CASES
    saved = CASES
    CASES = [("dies", "import os; os.abort()", "", ""), ("after", "E.zeros(-1)", "RuntimeError", "")]
    try:
        results = _run_battery("cpu")
    finally:
        CASES = saved
    assert results["dies"]["type"].startswith("crash")
    assert results["after"]["type"] == "RuntimeError"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("call", [
    "E.ones(2, 3, device=d) @ E.ones(3, 2, dtype=E.int64, device=d)",
    "E.matmul(E.ones(2, 3, dtype=E.float64, device=d), E.ones(3, 2, device=d))",
    "E.mm(E.ones(2, 3, device=d), E.ones(3, 2, dtype=E.float64, device=d))",
    "E.bmm(E.ones(1, 2, 3, device=d), E.ones(1, 3, 2, dtype=E.float64, device=d))",
    "E.dot(E.ones(3, device=d), E.ones(3, dtype=E.int64, device=d))",
    "E.nn.Linear(3, 2).to(d)(E.ones(2, 3, dtype=E.float64, device=d))",
])
def test_matrix_products_of_two_dtypes_raise_as_pytorch(call, device):
    """PyTorch multiplies matrices of one dtype only (no silent promotion)."""
    with pytest.raises(RuntimeError, match="same dtype"):
        eval(call, {"E": __import__("ember"), "d": device})


@pytest.mark.parametrize("device", DEVICES)
def test_class_losses_take_unbatched_input_and_refuse_0d(device):
    import numpy as np
    import ember as E
    import ember.nn.functional as F

    x = E.tensor([0.5, -1.0, 2.0], device=device)
    logp = x.log_softmax(0).cpu().numpy()
    assert abs(F.cross_entropy(x, E.tensor(2, device=device)).item() + logp[2]) < 1e-6
    assert F.nll_loss(x, E.tensor(1, device=device)).item() == 1.0
    assert F.nll_loss(x, E.tensor(1, device=device), reduction="none").shape == ()
    np.testing.assert_allclose(F.cross_entropy(x, E.tensor(0, device=device), reduction="none").item(), -logp[0], rtol=1e-6)
    for loss in (F.nll_loss, F.cross_entropy):
        with pytest.raises(IndexError, match=r"shape \[\] has no class dimension"):
            loss(E.tensor(1.0, device=device), E.tensor(1, device=device))
        with pytest.raises(ValueError, match=r"unbatched input of shape \[3\] takes a 0-d target"):
            loss(x, E.tensor([1, 2], device=device))


def test_a_dtype_name_is_not_a_dtype():
    import ember as E

    for make in (lambda: E.zeros(2, dtype="float32"), lambda: E.tensor([1], dtype="int64"),
                 lambda: E.arange(3, dtype="float64"), lambda: E.ones(2).to(dtype="float16")):
        with pytest.raises(TypeError, match="argument 'dtype' must be ember.dtype, not str"):
            make()
