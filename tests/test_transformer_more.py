"""nn.Transformer, nn.TransformerDecoder(Layer) and the rest of Module's machinery (full backward
hooks, get_parameter/get_buffer, dtype casts, to_empty, zero_grad, named_modules, apply, printing)."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from conftest import check_grad, to_np


def _small(**kw):
    return nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32, **kw)


# ---------------------------------------------------------------- Transformer

@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_shapes(device, batch_first):
    m = _small(batch_first=batch_first).to(device)
    n, s, t = 3, 5, 4
    shape = (lambda L: (n, L, 16)) if batch_first else (lambda L: (L, n, 16))
    src, tgt = ember.randn(*shape(s), device=device), ember.randn(*shape(t), device=device)
    mask = nn.Transformer.generate_square_subsequent_mask(t, device=device)
    out = m(src, tgt, tgt_mask=mask, src_key_padding_mask=ember.zeros(n, s, dtype=ember.bool, device=device))
    assert tuple(out.shape) == shape(t)
    assert m.batch_first is batch_first and m.d_model == 16 and m.nhead == 2
    # the pieces, called on their own
    memory = m.encoder(src)
    assert tuple(memory.shape) == shape(s)
    assert tuple(m.decoder(tgt, memory, tgt_mask=mask).shape) == shape(t)
    layer = m.decoder.layers[0]
    assert tuple(layer(tgt, memory, tgt_is_causal=True).shape) == shape(t)
    # unbatched
    assert tuple(m(ember.randn(s, 16, device=device), ember.randn(t, 16, device=device)).shape) == (t, 16)


def test_transformer_defaults_and_errors():
    m = nn.Transformer()
    assert len(m.encoder.layers) == 6 and len(m.decoder.layers) == 6
    layer = m.decoder.layers[0]
    assert layer.linear1.out_features == 2048 and layer.self_attn.num_heads == 8 and layer.dropout.p == 0.1
    assert layer.norm1.eps == 1e-5 and not layer.norm_first and layer.activation is F.relu
    with pytest.raises(RuntimeError, match="batch number"):
        _small()(ember.randn(5, 2, 16), ember.randn(4, 3, 16))
    with pytest.raises(RuntimeError, match="d_model"):
        _small()(ember.randn(5, 2, 16), ember.randn(4, 2, 8))
    g = nn.TransformerDecoderLayer(8, 2, 16, activation="gelu", norm_first=True, bias=False)
    assert g.activation is F.gelu and g.norm_first and g.linear1.bias is None
    act = nn.GELU()
    assert nn.TransformerDecoderLayer(8, 2, 16, activation=act).activation is act
    enc, dec = nn.Identity(), nn.Identity()
    custom = nn.Transformer(d_model=8, nhead=2, custom_encoder=enc, custom_decoder=dec)
    assert custom.encoder is enc and custom.decoder is dec


def test_generate_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == ember.float32 and tuple(m.shape) == (4, 4)
    expected = np.triu(np.full((4, 4), -np.inf, dtype=np.float32), k=1)
    np.testing.assert_array_equal(to_np(m), expected)
    assert to_np(m)[np.tril_indices(4)].tolist() == [0.0] * 10
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=ember.float64).dtype == ember.float64


@pytest.mark.parametrize("how", ["mask", "is_causal"])
def test_decoder_causal_mask_hides_future(device, how):
    ember.manual_seed(0)
    m = _small().to(device).eval()
    t = 5
    src, tgt = ember.randn(6, 2, 16, device=device), ember.randn(t, 2, 16, device=device)
    kw = {"tgt_mask": nn.Transformer.generate_square_subsequent_mask(t, device=device)} if how == "mask" else {"tgt_is_causal": True}
    out = to_np(m(src, tgt, **kw))
    for k in range(t - 1):
        changed = tgt.clone()
        changed[k + 1:] = ember.randn(t - k - 1, 2, 16, device=device) * 5
        out2 = to_np(m(src, changed, **kw))
        np.testing.assert_allclose(out2[: k + 1], out[: k + 1], rtol=1e-5, atol=1e-5)
        assert not np.allclose(out2[k + 1:], out[k + 1:])
    # without the mask, the future does reach the past
    changed = tgt.clone()
    changed[-1] = changed[-1] + 3
    assert not np.allclose(to_np(m(src, changed))[0], to_np(m(src, tgt))[0])


TORCH_KEYS = [
    "encoder.layers.0.self_attn.in_proj_weight",
    "encoder.layers.0.self_attn.in_proj_bias",
    "encoder.layers.0.self_attn.out_proj.weight",
    "encoder.layers.0.self_attn.out_proj.bias",
    "encoder.layers.0.linear1.weight",
    "encoder.layers.0.linear1.bias",
    "encoder.layers.0.linear2.weight",
    "encoder.layers.0.linear2.bias",
    "encoder.layers.0.norm1.weight",
    "encoder.layers.0.norm1.bias",
    "encoder.layers.0.norm2.weight",
    "encoder.layers.0.norm2.bias",
    "encoder.norm.weight",
    "encoder.norm.bias",
    "decoder.layers.0.self_attn.in_proj_weight",
    "decoder.layers.0.self_attn.in_proj_bias",
    "decoder.layers.0.self_attn.out_proj.weight",
    "decoder.layers.0.self_attn.out_proj.bias",
    "decoder.layers.0.multihead_attn.in_proj_weight",
    "decoder.layers.0.multihead_attn.in_proj_bias",
    "decoder.layers.0.multihead_attn.out_proj.weight",
    "decoder.layers.0.multihead_attn.out_proj.bias",
    "decoder.layers.0.linear1.weight",
    "decoder.layers.0.linear1.bias",
    "decoder.layers.0.linear2.weight",
    "decoder.layers.0.linear2.bias",
    "decoder.layers.0.norm1.weight",
    "decoder.layers.0.norm1.bias",
    "decoder.layers.0.norm2.weight",
    "decoder.layers.0.norm2.bias",
    "decoder.layers.0.norm3.weight",
    "decoder.layers.0.norm3.bias",
    "decoder.norm.weight",
    "decoder.norm.bias",
]


def test_state_dict_keys_match_pytorch():
    m = _small()
    sd = m.state_dict()
    assert list(sd) == TORCH_KEYS
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["decoder.layers.0.multihead_attn.in_proj_weight"] == (48, 16)
    assert shapes["decoder.layers.0.linear1.weight"] == (32, 16)
    assert shapes["decoder.layers.0.linear2.weight"] == (16, 32)
    # a checkpoint with these keys loads into a fresh model, strictly
    other = _small()
    other.load_state_dict({k: v.clone() for k, v in sd.items()})
    src, tgt = ember.randn(3, 1, 16), ember.randn(2, 1, 16)
    np.testing.assert_allclose(to_np(other.eval()(src, tgt)), to_np(m.eval()(src, tgt)), rtol=1e-6, atol=1e-6)


def test_reset_parameters_is_xavier_on_matrices():
    m = _small()
    w = m.decoder.layers[0].linear1.weight  # [32, 16]
    bound = math.sqrt(6.0 / (16 + 32))
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.8 * bound
    # one-dimensional parameters keep their own init: LayerNorm weight ones, MHA biases zeros
    assert to_np(m.decoder.norm.weight).tolist() == [1.0] * 16
    assert to_np(m.encoder.layers[0].self_attn.in_proj_bias).tolist() == [0.0] * 48


# ---------------------------------------------------------------- word-language-model

class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = ember.zeros(max_len, d_model)
        position = ember.arange(0, max_len, dtype=ember.float32).unsqueeze(1)
        div_term = ember.exp(ember.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = ember.sin(position * div_term)
        pe[:, 1::2] = ember.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[: x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Transformer):
    """The official word-language-model example's model, as written there."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid, num_encoder_layers=nlayers, num_decoder_layers=1)
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout, max_len=64)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        return ember.log(ember.tril(ember.ones(sz, sz)))

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = self._generate_square_subsequent_mask(len(src)).to(src.device)
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.encoder(src, mask=self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


def test_word_language_model_subclass_trains():
    ember.manual_seed(0)
    ntoken, bptt, batch = 12, 8, 4
    model = TransformerModel(ntoken, 16, 2, 32, 1, dropout=0.1)
    assert "pos_encoder.pe" in model.state_dict() and "input_emb.weight" in model.state_dict()
    assert isinstance(model.decoder, nn.Linear) and "decoder.weight" in model.state_dict()
    # a periodic token stream: the next token is predictable from the previous one
    stream = np.arange(bptt * batch + 1) % 5
    data = ember.tensor(stream[:-1].reshape(batch, bptt).T.copy(), dtype=ember.int64)
    target = ember.tensor(stream[1:].reshape(batch, bptt).T.copy().reshape(-1), dtype=ember.int64)
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    model.train()
    for _ in range(15):
        opt.zero_grad()
        out = model(data)
        assert tuple(out.shape) == (bptt, batch, ntoken)
        loss = F.nll_loss(out.view(-1, ntoken), target)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


# ---------------------------------------------------------------- gradients

def test_decoder_layer_gradcheck_float64():
    ember.manual_seed(0)
    layer = nn.TransformerDecoderLayer(4, 2, dim_feedforward=6, dropout=0.0).double()
    tgt = ember.randn(3, 2, 4, dtype=ember.float64, requires_grad=True)
    memory = ember.randn(2, 2, 4, dtype=ember.float64, requires_grad=True)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=ember.float64)
    check_grad(lambda t, m: layer(t, m, tgt_mask=mask), tgt, memory)
    norm_first = nn.TransformerDecoderLayer(4, 2, dim_feedforward=6, dropout=0.0, norm_first=True, batch_first=True).double()
    check_grad(lambda t, m: norm_first(t, m, tgt_is_causal=True), tgt.detach().transpose(0, 1).contiguous().requires_grad_(), memory.detach().transpose(0, 1).contiguous().requires_grad_())


# ---------------------------------------------------------------- full backward hooks

class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ember.tensor([1.0, -2.0, 0.5]))

    def forward(self, a, scale, b, flag=True):
        return (a * self.w * b).sum(-1) * scale, a * 2


def _f(m, a, b):
    out, aux = m(a, 3.0, b)
    return (out ** 2).sum() + (aux * aux.detach()).sum()


def test_full_backward_hook_sees_autograd_gradients():
    m = _TwoInputs()
    a = ember.randn(4, 3, requires_grad=True)
    b = ember.randn(4, 3, dtype=ember.float64, requires_grad=True)  # a second dtype
    c = ember.randn(4, 3)  # does not require grad
    # expected: autograd's gradient w.r.t. the module's inputs and outputs, from a hook-free run
    out, aux = m(a, 3.0, b)
    loss = (out ** 2).sum() + (aux * aux.detach()).sum()
    ga, gb, gout, gaux = ember.autograd.grad(loss, [a, b, out, aux])
    seen = []
    h = m.register_full_backward_hook(lambda mod, gi, go: seen.append((mod, gi, go)))
    pre_seen = []
    hp = m.register_full_backward_pre_hook(lambda mod, go: pre_seen.append(go))
    # a is also used outside the module: the hook sees only the module's share
    (_f(m, a, b) + (a * 7).sum()).backward()
    assert len(seen) == 1 and len(pre_seen) == 1
    mod, gi, go = seen[0]
    assert mod is m and isinstance(gi, tuple) and isinstance(go, tuple) and len(gi) == 3 and len(go) == 2
    assert gi[1] is None
    np.testing.assert_allclose(to_np(gi[0]), to_np(ga), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(gi[2]), to_np(gb), rtol=1e-5, atol=1e-6)
    assert gi[0].dtype == ember.float32 and gi[2].dtype == ember.float64
    np.testing.assert_allclose(to_np(go[0]), to_np(gout), rtol=1e-5)
    np.testing.assert_allclose(to_np(go[1]), to_np(gaux), rtol=1e-5)
    np.testing.assert_allclose(to_np(pre_seen[0][0]), to_np(gout), rtol=1e-5)
    np.testing.assert_allclose(to_np(a.grad), to_np(ga) + 7, rtol=1e-5, atol=1e-5)
    h.remove()
    hp.remove()
    a.grad = None
    _f(m, a, b).backward()
    assert len(seen) == 1 and len(pre_seen) == 1
    # a tensor that does not require grad gives None, and the hook still runs from grad_output
    lin = nn.Linear(3, 2)
    calls = []
    lin.register_full_backward_hook(lambda mod, gi, go: calls.append((gi, go)))
    lin(c).sum().backward()
    assert calls[0][0] == (None,) and to_np(calls[0][1][0]).tolist() == [[1.0, 1.0]] * 4
    # no hooks run under no_grad, and a single-input module works too
    with ember.no_grad():
        lin(c)
    assert len(calls) == 1


def test_full_backward_hook_replacement_is_applied():
    lin = nn.Linear(3, 2)
    x = ember.randn(5, 3, requires_grad=True)
    lin(x).sum().backward()
    base = to_np(x.grad)
    x.grad = None
    h = lin.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 10,))
    lin(x).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), base * 10, rtol=1e-5)
    # the weight's gradient is the module's own: the hook does not change it
    h.remove()
    # a replacement grad_output from a pre-hook reaches both the parameters and the inputs
    x.grad = None
    lin.zero_grad()
    seen = []
    lin.register_full_backward_pre_hook(lambda mod, go: (go[0] * 0 + 2,))
    lin.register_full_backward_hook(lambda mod, gi, go: seen.append(go))
    lin(x).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), base * 2, rtol=1e-5)
    np.testing.assert_allclose(to_np(lin.bias.grad), [10.0, 10.0])
    assert to_np(seen[0][0]).tolist() == [[2.0, 2.0]] * 5
    # a wrong number of gradients is an error
    bad = nn.Linear(3, 2)
    bad.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number"):
        bad(x).sum().backward()


def test_full_backward_hook_order_and_prepend():
    lin = nn.Linear(2, 2)
    order = []
    lin.register_full_backward_hook(lambda *a: order.append("hook1"))
    lin.register_full_backward_hook(lambda *a: order.append("hook0"), prepend=True)
    lin.register_full_backward_pre_hook(lambda *a: order.append("pre"))
    lin(ember.randn(1, 2, requires_grad=True)).sum().backward()
    assert order == ["pre", "hook0", "hook1"]


# ---------------------------------------------------------------- the rest of Module

class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        self.head = nn.Linear(3, 1)
        self.register_buffer("steps", ember.zeros(1))
        self.register_buffer("counts", ember.zeros(2, dtype=ember.int64))


def test_get_parameter_and_get_buffer():
    net = _Net()
    assert net.get_parameter("body.0.weight") is net.body[0].weight
    assert net.get_parameter("head.bias") is net.head.bias
    assert net.get_buffer("steps") is net.steps
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_parameter("head.nope")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        net.get_parameter("steps")
    with pytest.raises(AttributeError, match="is not a buffer"):
        net.get_buffer("head.weight")
    with pytest.raises(AttributeError):
        net.get_buffer("missing.steps")


def test_dtype_casts_and_to_empty():
    net = _Net()
    for cast, dt in [("half", ember.float16), ("bfloat16", ember.bfloat16), ("double", ember.float64), ("float", ember.float32)]:
        assert getattr(net, cast)() is net
        assert net.head.weight.dtype == dt and net.steps.dtype == dt
        assert net.counts.dtype == ember.int64  # integer buffers stay
        assert isinstance(net.head.weight, nn.Parameter) and net.head.weight.requires_grad
    old = net.head.weight
    assert net.to_empty(device="cpu") is net
    assert net.head.weight is not old and tuple(net.head.weight.shape) == (1, 3)
    assert isinstance(net.head.weight, nn.Parameter) and net.counts.dtype == ember.int64
    # recurse=False: only the module's own parameters and buffers are replaced
    inner = net.head.weight
    steps = net.steps
    net.to_empty(device="cpu", recurse=False)
    assert net.head.weight is inner and net.steps is not steps and net.steps.shape == (1,)


def test_requires_grad_zero_grad_apply_named_modules():
    net = _Net()
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())
    net.head(ember.randn(4, 3)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert to_np(net.head.weight.grad).tolist() == [[0.0, 0.0, 0.0]]
    net.zero_grad()
    assert net.head.weight.grad is None
    names = []
    assert net.apply(lambda m: names.append(type(m).__name__)) is net
    assert names == ["Linear", "ReLU", "Sequential", "Linear", "_Net"]  # children first, as torch
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert [n for n, _ in net.named_modules(prefix="net")][:2] == ["net", "net.body"]
    shared = nn.Linear(1, 1)
    seq = nn.Sequential(shared, shared)
    assert [n for n, _ in seq.named_modules()] == ["", "0"]
    assert [n for n, _ in seq.named_modules(remove_duplicate=False)] == ["", "0", "1"]
    net.register_module("extra", nn.Tanh())
    assert net.extra is net._modules["extra"] and "extra" in dict(net.named_children())


def test_printing_uses_extra_repr():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 3, bias=False)

        def extra_repr(self):
            return "k=1"

    class Leaf(nn.Module):
        def extra_repr(self):
            return "a=1,\nb=2"

    assert repr(WithExtra()) == "WithExtra(\n  k=1\n  (lin): Linear(in_features=2, out_features=3, bias=False)\n)"
    assert repr(Leaf()) == "Leaf(\n  a=1,\n  b=2\n)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(nn.Sequential(nn.Sequential(nn.Tanh()))) == "Sequential(\n  (0): Sequential(\n    (0): Tanh()\n  )\n)"


def test_register_module_checks():
    net = _Net()
    net.register_module("none_yet", None)
    assert "none_yet" in net._modules and net.none_yet is None
    with pytest.raises(TypeError, match="is not a Module subclass"):
        net.register_module("bad", 3)
    with pytest.raises(KeyError, match="contain"):
        net.register_module("a.b", nn.Tanh())
    with pytest.raises(KeyError, match="empty"):
        net.add_module("", nn.Tanh())
    net.plain = 1
    with pytest.raises(KeyError, match="already exists"):
        net.add_module("plain", nn.Tanh())
    net.add_module("head", nn.Tanh())  # replacing a submodule is allowed
    assert isinstance(net.head, nn.Tanh)
