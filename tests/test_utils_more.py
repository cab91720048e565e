"""Tests of ember.nn.utils (rnn packing, gradient clipping, parameter vectors) and of the
torch.utils.data paths. Expected values are written from PyTorch's documented behaviour;
packed RNNs are checked against running each sequence on its own, unpadded."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)


def _np(t):
    return np.asarray(t.detach().to("cpu").tolist())


# ---- pad / pack ----------------------------------------------------------------------------

def test_pad_sequence(device):
    a = ember.tensor([1.0, 2.0, 3.0], device=device)
    b = ember.tensor([4.0, 5.0], device=device)
    c = ember.tensor([6.0], device=device)
    p = pad_sequence([a, b, c])
    assert p.shape == (3, 3)
    np.testing.assert_array_equal(_np(p), [[1, 4, 6], [2, 5, 0], [3, 0, 0]])
    p = pad_sequence([a, b, c], batch_first=True, padding_value=-1.0)
    np.testing.assert_array_equal(_np(p), [[1, 2, 3], [4, 5, -1], [6, -1, -1]])
    p = pad_sequence([a, b, c], batch_first=True, padding_side="left")
    np.testing.assert_array_equal(_np(p), [[1, 2, 3], [0, 4, 5], [0, 0, 6]])
    # trailing dims are kept: [L_i, 2] -> [B, T, 2]
    q = pad_sequence([ember.ones(3, 2), ember.ones(1, 2)], batch_first=True)
    assert q.shape == (2, 3, 2) and _np(q)[1, 1:].sum() == 0
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequence([a], padding_side="middle")
    assert [s.tolist() for s in unpad_sequence(pad_sequence([a, b, c]), [3, 2, 1])] == [[1, 2, 3], [4, 5], [6]]


def test_pack_sequence_layout(device):
    a = ember.tensor([1.0, 2.0, 3.0], device=device)
    b = ember.tensor([4.0, 5.0], device=device)
    c = ember.tensor([6.0], device=device)
    p = pack_sequence([a, b, c])  # torch docs: data=[1, 4, 6, 2, 5, 3], batch_sizes=[3, 2, 1]
    assert isinstance(p, PackedSequence) and isinstance(p, tuple)
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3]
    assert p.batch_sizes.tolist() == [3, 2, 1] and p.batch_sizes.dtype == ember.int64
    assert p.batch_sizes.device.type == "cpu"
    assert p.sorted_indices is None and p.unsorted_indices is None
    data, batch_sizes, si, ui = p  # a namedtuple
    assert batch_sizes.tolist() == [3, 2, 1]
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_sequence([b, a, c])
    p = pack_sequence([b, a, c], enforce_sorted=False)
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3]
    assert p.sorted_indices.tolist() == [1, 0, 2] and p.unsorted_indices.tolist() == [1, 0, 2]
    padded, lengths = pad_packed_sequence(p, batch_first=True)
    np.testing.assert_array_equal(_np(padded), [[4, 5, 0], [1, 2, 3], [6, 0, 0]])
    assert lengths.tolist() == [2, 3, 1] and lengths.dtype == ember.int64
    assert [s.tolist() for s in unpack_sequence(p)] == [[4, 5], [1, 2, 3], [6]]
    padded, _ = pad_packed_sequence(p, padding_value=9.0, total_length=5)
    assert padded.shape == (5, 3) and _np(padded)[3:].tolist() == [[9] * 3] * 2
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(p, total_length=2)


def test_pack_padded_sequence(device):
    x = ember.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0], [6.0, 0.0, 0.0]], device=device)  # [B, T]
    p = pack_padded_sequence(x, ember.tensor([3, 2, 1]), batch_first=True)
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3] and p.batch_sizes.tolist() == [3, 2, 1]
    p = pack_padded_sequence(x.t(), [3, 2, 1])
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3]
    # unsorted lengths: sorted by length, ties keep their order
    y = ember.tensor([[6.0, 0.0], [1.0, 2.0], [3.0, 4.0]], device=device)
    p = pack_padded_sequence(y, [1, 2, 2], batch_first=True, enforce_sorted=False)
    assert p.sorted_indices.tolist() == [1, 2, 0]
    assert p.data.tolist() == [1, 3, 6, 2, 4] and p.batch_sizes.tolist() == [3, 2]
    back, lengths = pad_packed_sequence(p, batch_first=True)
    np.testing.assert_array_equal(_np(back), _np(y))
    assert lengths.tolist() == [1, 2, 2]
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(y, [1, 2, 2], batch_first=True)
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(y, [2, 1, 0], batch_first=True)
    with pytest.raises(ValueError, match="batch_size"):
        pack_padded_sequence(y, [2, 1], batch_first=True)


def test_packed_sequence_to_and_grad(device):
    a = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = ember.tensor([4.0, 5.0], requires_grad=True)
    p = pack_sequence([b, a], enforce_sorted=False)
    assert p.to("cpu") is p
    q = p.to(device)
    assert q.data.device.type == ember.tensor([0.0], device=device).device.type
    assert q.batch_sizes.device.type == "cpu"
    assert q.sorted_indices.device == q.data.device
    d = p.to(dtype=ember.float64)
    assert d.data.dtype == ember.float64 and d.double().data.dtype == ember.float64
    padded, _ = pad_packed_sequence(p)
    (padded * ember.tensor([[1.0, 10.0]] * 3)).sum().backward()
    assert a.grad.tolist() == [10, 10, 10] and b.grad.tolist() == [1, 1]


# ---- packed RNNs ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_rnn_matches_separate_runs(cls, bidirectional):
    ember.manual_seed(0)
    m = cls(3, 4, num_layers=2, bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    lengths = [2, 5, 3]
    seqs = [ember.randn(n, 3) for n in lengths]
    is_lstm = cls is nn.LSTM
    h0 = ember.randn(2 * D, 3, 4)
    hx = (h0, ember.randn(2 * D, 3, 4)) if is_lstm else h0
    out, hn = m(pack_sequence(seqs, enforce_sorted=False), hx)
    assert isinstance(out, PackedSequence)
    assert out.batch_sizes.tolist() == [3, 3, 2, 1, 1]
    assert out.data.shape == (sum(lengths), 4 * D)
    padded, lens = pad_packed_sequence(out)
    assert lens.tolist() == lengths and padded.shape == (5, 3, 4 * D)
    for i, s in enumerate(seqs):
        hxi = tuple(h[:, i:i + 1] for h in hx) if is_lstm else hx[:, i:i + 1]
        o1, h1 = m(s.unsqueeze(1), hxi)
        n = lengths[i]
        np.testing.assert_allclose(_np(padded[:n, i]), _np(o1[:, 0]), atol=1e-5)
        assert np.all(_np(padded[n:, i]) == 0)
        for got, ref in (zip(hn, h1) if is_lstm else [(hn, h1)]):
            np.testing.assert_allclose(_np(got[:, i]), _np(ref[:, 0]), atol=1e-5)


def test_packed_lstm_batch_first_and_backward(device):
    ember.manual_seed(1)
    m = nn.LSTM(2, 3, batch_first=True).to(device)
    x = ember.randn(3, 4, 2, device=device)  # [B, T, F]; batch_first is ignored by PackedSequence
    lengths = [4, 1, 3]
    out, (h, c) = m(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    padded, _ = pad_packed_sequence(out, batch_first=True)
    for i, n in enumerate(lengths):
        o1, (h1, c1) = m(x[i:i + 1, :n])
        np.testing.assert_allclose(_np(padded[i, :n]), _np(o1[0]), atol=1e-5)
        np.testing.assert_allclose(_np(h[:, i]), _np(h1[:, 0]), atol=1e-5)
        np.testing.assert_allclose(_np(c[:, i]), _np(c1[:, 0]), atol=1e-5)
    # the padded tail of a sequence gets no gradient
    xg = x.detach().requires_grad_(True)
    out, _ = m(pack_padded_sequence(xg, lengths, batch_first=True, enforce_sorted=False))
    out.data.sum().backward()
    g = _np(xg.grad)
    assert np.all(g[1, 1:] == 0) and np.all(g[2, 3:] == 0) and np.abs(g[0]).sum() > 0


# ---- gradient clipping and parameter vectors -----------------------------------------------

def _with_grads(device, *grads):
    ps = []
    for g in grads:
        p = nn.Parameter(ember.zeros(len(g), device=device))
        p.grad = ember.tensor(g, device=device)
        ps.append(p)
    return ps


def test_clip_grad_norm(device):
    ps = _with_grads(device, [3.0, 0.0], [0.0, 4.0])
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    assert math.isclose(total.item(), 5.0, rel_tol=1e-6)
    np.testing.assert_allclose(_np(ps[0].grad), [0.6, 0], rtol=1e-5)
    np.testing.assert_allclose(_np(ps[1].grad), [0, 0.8], rtol=1e-5)
    ps = _with_grads(device, [3.0, 0.0], [0.0, 4.0])
    total = nn.utils.clip_grad_norm_(ps, 10.0, norm_type="inf", foreach=None)
    assert total.item() == 4.0 and _np(ps[1].grad).tolist() == [0, 4]  # below max_norm: unchanged
    ps = _with_grads(device, [1.0, -2.0], [2.0, 0.0])
    assert math.isclose(nn.utils.clip_grad_norm_(ps, 1.0, norm_type=1).item(), 5.0, rel_tol=1e-6)
    ps = _with_grads(device, [float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(ember.ones(2))], 1.0).item() == 0.0
    single = _with_grads(device, [6.0, 8.0])[0]
    nn.utils.clip_grad_norm_(single, 5.0)
    np.testing.assert_allclose(_np(single.grad), [3, 4], rtol=1e-5)


def test_get_total_norm_and_clip_grads_with_norm(device):
    ps = _with_grads(device, [3.0, 0.0], [0.0, 4.0])
    total = nn.utils.get_total_norm([p.grad for p in ps])
    assert math.isclose(total.item(), 5.0, rel_tol=1e-6)
    assert nn.utils.get_total_norm([p.grad for p in ps], norm_type=float("inf")).item() == 4.0
    assert nn.utils.get_total_norm([]).item() == 0.0
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([ember.tensor([float("nan")])], error_if_nonfinite=True)
    nn.utils.clip_grads_with_norm_(ps, 2.5, total)
    np.testing.assert_allclose(_np(ps[0].grad), [1.5, 0], rtol=1e-5)
    np.testing.assert_allclose(_np(ps[1].grad), [0, 2.0], rtol=1e-5)


def test_clip_grad_value_and_vectors(device):
    ps = _with_grads(device, [3.0, -0.5], [-4.0, 1.0])
    nn.utils.clip_grad_value_(ps, 1.0, foreach=None)
    assert _np(ps[0].grad).tolist() == [1, -0.5] and _np(ps[1].grad).tolist() == [-1, 1]
    lin = nn.Linear(3, 2).to(device)
    v = nn.utils.parameters_to_vector(lin.parameters())
    assert v.shape == (8,)
    np.testing.assert_allclose(_np(v[:6]), _np(lin.weight).reshape(-1))
    nn.utils.vector_to_parameters(ember.arange(8, dtype=ember.float32, device=device), lin.parameters())
    assert _np(lin.weight).tolist() == [[0, 1, 2], [3, 4, 5]] and _np(lin.bias).tolist() == [6, 7]
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], lin.parameters())


# ---- torch.utils.data paths ----------------------------------------------------------------

def test_utils_data_paths():
    from ember.utils import data

    ds = data.TensorDataset(ember.arange(10))
    a, b = data.random_split(ds, [0.7, 0.3], generator=ember.Generator().manual_seed(0))
    assert (len(a), len(b)) == (7, 3)
    assert sorted([int(a[i][0]) for i in range(7)] + [int(b[i][0]) for i in range(3)]) == list(range(10))
    with pytest.raises(ValueError):
        data.random_split(ds, [3, 3])
    cat = data.ConcatDataset([ds, data.Subset(ds, [9, 8])])
    assert len(cat) == 12 and int(cat[11][0]) == 8
    assert list(data.BatchSampler(range(5), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert sorted(data.SubsetRandomSampler([4, 2, 7])) == [2, 4, 7]
    assert len(list(data.WeightedRandomSampler([0.0, 1.0], 5))) == 5
    assert set(data.WeightedRandomSampler([0.0, 1.0], 5)) == {1}
    batch = data.default_collate([(ember.tensor([1.0]), 2), (ember.tensor([3.0]), 4)])
    assert batch[0].tolist() == [[1], [3]] and batch[1].tolist() == [2, 4]
    assert isinstance(data.default_convert(np.array([1, 2])), ember.Tensor)
    stack = data.StackDataset(ds, ds)
    assert int(stack[3][1][0]) == 3

    class It(data.IterableDataset):
        def __init__(self, xs):
            self.xs = xs

        def __iter__(self):
            return iter(self.xs)

    assert list(data.ChainDataset([It([1, 2]), It([3])])) == [1, 2, 3]
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        list(data.ChainDataset([[1]]))


# ---- parametrize / parametrizations --------------------------------------------------------

class _Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


class _First(nn.Module):
    def forward(self, X):
        return X[:1]


class _Double(nn.Module):
    def forward(self, X):
        return X * 2

    def right_inverse(self, X):
        return X / 2


def test_register_parametrization(device):
    from ember.nn.utils import parametrize as P

    m = nn.Linear(3, 3).to(device)
    P.register_parametrization(m, "weight", _Symmetric())
    assert type(m).__name__ == "ParametrizedLinear" and isinstance(m, nn.Linear)
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    A = _np(m.weight)
    np.testing.assert_allclose(A, A.T)
    assert sorted(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert P.type_before_parametrizations(m) is nn.Linear
    # a chained parametrization with right_inverse; assigning the tensor goes through it
    P.register_parametrization(m, "bias", _Double())
    before = _np(m.parametrizations.bias.original)
    np.testing.assert_allclose(_np(m.bias), before * 2, rtol=1e-6)  # original = right_inverse(b) = b / 2
    m.bias = ember.tensor([2.0, 4.0, 6.0], device=device)
    np.testing.assert_allclose(_np(m.parametrizations.bias.original), [1, 2, 3])
    np.testing.assert_allclose(_np(m.bias), [2, 4, 6])
    with P.cached():
        assert m.weight is m.weight
    m(ember.randn(2, 3, device=device)).sum().backward()
    assert m.parametrizations.weight.original.grad is not None
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        P.register_parametrization(m, "nope", _Symmetric())
    P.remove_parametrizations(m, "bias", leave_parametrized=False)
    np.testing.assert_allclose(_np(m.bias), [1, 2, 3])
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and not hasattr(m, "parametrizations")
    np.testing.assert_allclose(_np(m.weight), A)
    assert isinstance(m.weight, nn.Parameter)
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(m, "weight")
    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(nn.Linear(3, 2), "weight", _First())


def test_weight_norm(device):
    from ember.nn.utils import parametrize as P
    from ember.nn.utils.parametrizations import weight_norm

    ember.manual_seed(0)
    m = nn.Linear(3, 2).to(device)
    w = _np(m.weight)
    weight_norm(m)
    assert sorted(m.state_dict()) == ["bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    g, v = m.parametrizations.weight.original0, m.parametrizations.weight.original1
    assert g.shape == (2, 1) and v.shape == (2, 3)
    np.testing.assert_allclose(_np(g)[:, 0], np.linalg.norm(w, axis=1), rtol=1e-5)
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-5, atol=1e-6)
    with ember.no_grad():
        g.mul_(2.0)
    np.testing.assert_allclose(_np(m.weight), 2 * w, rtol=1e-5, atol=1e-6)
    m(ember.randn(4, 3, device=device)).sum().backward()
    assert g.grad.shape == (2, 1) and v.grad.shape == (2, 3)
    # dim=1 and dim=None (the whole tensor's norm)
    c = weight_norm(nn.Linear(3, 2), dim=1)
    assert c.parametrizations.weight.original0.shape == (1, 3)
    n = weight_norm(nn.Linear(3, 2), dim=None)
    assert n.parametrizations.weight.original0.shape == ()
    assert "parametrizations.weight.original0" in repr(dict(n.named_parameters()).keys())
    P.remove_parametrizations(m, "weight")
    np.testing.assert_allclose(_np(m.weight), 2 * w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_orthogonal(orthogonal_map, shape):
    from ember.nn.utils.parametrizations import orthogonal

    ember.manual_seed(0)
    m = nn.Linear(shape[1], shape[0])
    w = _np(m.weight)
    orthogonal(m, orthogonal_map=orthogonal_map)
    assert sorted(m.state_dict()) == ["bias", "parametrizations.weight.0.base", "parametrizations.weight.original"]
    if shape[0] == shape[1]:  # the weight starts as Q of the weight's QR (R's diagonal positive)
        q, r = np.linalg.qr(w)
        np.testing.assert_allclose(_np(m.weight), q * np.sign(np.diag(r)), atol=1e-4)
    opt = ember.optim.SGD(m.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        m(ember.randn(4, shape[1])).pow(2).sum().backward()
        opt.step()
    Q = _np(m.weight)
    G = Q.T @ Q if shape[0] >= shape[1] else Q @ Q.T
    np.testing.assert_allclose(G, np.eye(len(G)), atol=5e-5)
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError, match="Expected a matrix"):
        orthogonal(nn.Linear(2, 2), "bias")
