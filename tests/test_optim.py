"""ember.optim against NumPy re-implementations of PyTorch's update rules: each optimizer's
trajectory over a few steps on a non-quadratic loss (float64), parameter groups,
add_param_group, zero_grad, state_dict round trips; and every learning-rate scheduler's curve
against its closed form."""

import math

import numpy as np
import pytest

import ember
from ember import optim
from ember.optim import lr_scheduler


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)


def A(t):
    return np.array(t.detach().cpu().numpy(), copy=True)


# The loss f(p) = sum(0.5 c p^2 + d p + 0.25 p^4): its gradient c p + d + p^3 is nonlinear in p,
# so a wrong update anywhere changes every later step.
def _coefs(shape, seed):
    r = np.random.default_rng(seed)
    return r.uniform(0.5, 2.0, shape), r.standard_normal(shape)


SHAPES = [(3, 2), (2,)]


def _init_params(device):
    r = np.random.default_rng(42)
    arrays = [r.standard_normal(s) for s in SHAPES]
    params = [ember.from_numpy(a.copy()).to(device).requires_grad_(True) for a in arrays]
    return arrays, params


def _loss(params):
    total = None
    for i, p in enumerate(params):
        c, d = _coefs(tuple(p.shape), i)
        ct, dt = ember.from_numpy(c).to(p.device), ember.from_numpy(d).to(p.device)
        term = (ct * p * p * 0.5 + dt * p + p**4 * 0.25).sum()
        total = term if total is None else total + term
    return total


def _np_grads(arrays):
    out = []
    for i, a in enumerate(arrays):
        c, d = _coefs(a.shape, i)
        out.append(c * a + d + a**3)
    return out


# ------------------------------------------------------------------- NumPy reference updates
class NpSGD:
    def __init__(self, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
        self.h = dict(lr=lr, momentum=momentum, dampening=dampening, wd=weight_decay, nesterov=nesterov, maximize=maximize)
        self.buf = {}

    def update(self, i, p, g):
        h = self.h
        d = -g if h["maximize"] else g
        if h["wd"]:
            d = d + h["wd"] * p
        if h["momentum"]:
            if i not in self.buf:
                self.buf[i] = d.copy()
            else:
                self.buf[i] = h["momentum"] * self.buf[i] + (1 - h["dampening"]) * d
            d = d + h["momentum"] * self.buf[i] if h["nesterov"] else self.buf[i]
        return p - h["lr"] * d


class NpAdam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
        self.h = dict(lr=lr, b1=betas[0], b2=betas[1], eps=eps, wd=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled=decoupled)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(t=0, m=np.zeros_like(p), v=np.zeros_like(p), vmax=np.zeros_like(p)))
        st["t"] += 1
        if h["wd"]:
            if h["decoupled"]:
                p = p * (1 - h["lr"] * h["wd"])
            else:
                g = g + h["wd"] * p
        st["m"] = h["b1"] * st["m"] + (1 - h["b1"]) * g
        st["v"] = h["b2"] * st["v"] + (1 - h["b2"]) * g * g
        bc1, bc2 = 1 - h["b1"] ** st["t"], 1 - h["b2"] ** st["t"]
        if h["amsgrad"]:
            st["vmax"] = np.maximum(st["vmax"], st["v"])
            denom = np.sqrt(st["vmax"]) / math.sqrt(bc2) + h["eps"]
        else:
            denom = np.sqrt(st["v"]) / math.sqrt(bc2) + h["eps"]
        return p - h["lr"] / bc1 * st["m"] / denom


class NpRMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
        self.h = dict(lr=lr, alpha=alpha, eps=eps, wd=weight_decay, momentum=momentum, centered=centered, maximize=maximize)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(sq=np.zeros_like(p), ga=np.zeros_like(p), buf=np.zeros_like(p)))
        if h["wd"]:
            g = g + h["wd"] * p
        st["sq"] = h["alpha"] * st["sq"] + (1 - h["alpha"]) * g * g
        if h["centered"]:
            st["ga"] = h["alpha"] * st["ga"] + (1 - h["alpha"]) * g
            avg = np.sqrt(st["sq"] - st["ga"] ** 2) + h["eps"]
        else:
            avg = np.sqrt(st["sq"]) + h["eps"]
        if h["momentum"] > 0:
            st["buf"] = h["momentum"] * st["buf"] + g / avg
            return p - h["lr"] * st["buf"]
        return p - h["lr"] * g / avg


class NpAdagrad:
    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        self.h = dict(lr=lr, lr_decay=lr_decay, wd=weight_decay, init=initial_accumulator_value, eps=eps, maximize=maximize)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(t=0, sum=np.full_like(p, h["init"])))
        st["t"] += 1
        if h["wd"]:
            g = g + h["wd"] * p
        clr = h["lr"] / (1 + (st["t"] - 1) * h["lr_decay"])
        st["sum"] = st["sum"] + g * g
        return p - clr * g / (np.sqrt(st["sum"]) + h["eps"])


class NpAdamax:
    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
        self.h = dict(lr=lr, b1=betas[0], b2=betas[1], eps=eps, wd=weight_decay, maximize=maximize)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(t=0, m=np.zeros_like(p), u=np.zeros_like(p)))
        st["t"] += 1
        if h["wd"]:
            g = g + h["wd"] * p
        st["m"] = h["b1"] * st["m"] + (1 - h["b1"]) * g
        st["u"] = np.maximum(h["b2"] * st["u"], np.abs(g) + h["eps"])
        return p - h["lr"] / (1 - h["b1"] ** st["t"]) * st["m"] / st["u"]


def _assert_trajectory(opt, params, ref, arrays, steps):
    """Steps both optimizers and checks the parameters after every step."""
    for step in range(steps):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
        grads = _np_grads(arrays)
        arrays = [ref.update(i, a, g) for i, (a, g) in enumerate(zip(arrays, grads))]
        for p, a in zip(params, arrays):
            np.testing.assert_allclose(A(p), a, rtol=1e-9, atol=1e-12, err_msg=f"step {step + 1}")
    return arrays


OPT_CASES = [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
    ("sgd", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    ("adam", dict(lr=0.05)),
    ("adam", dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1)),
    ("adam", dict(lr=0.05, amsgrad=True)),
    ("adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("adamw", dict(lr=0.05)),
    ("adamw", dict(lr=0.05, weight_decay=0.2, amsgrad=True)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("rmsprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.05, maximize=True)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.1, weight_decay=0.1)),
    ("adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("adamax", dict(lr=0.05)),
    ("adamax", dict(lr=0.05, betas=(0.8, 0.95), weight_decay=0.1)),
    ("adamax", dict(lr=0.05, maximize=True)),
]

_CLASSES = {
    "sgd": (optim.SGD, NpSGD),
    "adam": (optim.Adam, NpAdam),
    "adamw": (optim.AdamW, lambda **kw: NpAdam(decoupled=True, **{"weight_decay": 1e-2, **kw})),
    "rmsprop": (optim.RMSprop, NpRMSprop),
    "adagrad": (optim.Adagrad, NpAdagrad),
    "adamax": (optim.Adamax, NpAdamax),
}


@pytest.mark.parametrize("name,kw", OPT_CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in OPT_CASES])
def test_optimizer_trajectory(device, name, kw):
    cls, ref_cls = _CLASSES[name]
    arrays, params = _init_params(device)
    _assert_trajectory(cls(params, **kw), params, ref_cls(**kw), arrays, steps=6)


def test_default_hyperparameters_match_torch():
    p = [ember.zeros(2, requires_grad=True)]
    assert optim.RMSprop(p).defaults == dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False)
    assert optim.Adagrad(p).defaults == dict(lr=1e-2, lr_decay=0, eps=1e-10, weight_decay=0, initial_accumulator_value=0, maximize=False)
    assert optim.Adamax(p).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False)
    assert optim.AdamW(p).defaults["weight_decay"] == 1e-2 and optim.Adam(p).defaults["weight_decay"] == 0


@pytest.mark.parametrize("cls,bad", [
    (optim.SGD, dict(lr=-1.0)), (optim.SGD, dict(lr=0.1, momentum=-0.1)), (optim.SGD, dict(lr=0.1, nesterov=True)),
    (optim.Adam, dict(betas=(1.0, 0.9))), (optim.AdamW, dict(eps=-1.0)),
    (optim.RMSprop, dict(alpha=-0.5)), (optim.RMSprop, dict(momentum=-1.0)),
    (optim.Adagrad, dict(lr_decay=-0.1)), (optim.Adagrad, dict(initial_accumulator_value=-1.0)),
    (optim.Adamax, dict(betas=(0.9, 1.5))), (optim.Adamax, dict(weight_decay=-1.0)),
])
def test_invalid_hyperparameters_raise_value_error(cls, bad):
    with pytest.raises(ValueError):
        cls([ember.zeros(2, requires_grad=True)], **bad)


def test_param_groups_use_their_own_hyperparameters(device):
    arrays, params = _init_params(device)
    opt = optim.SGD([{"params": [params[0]], "lr": 0.1, "momentum": 0.9}, {"params": [params[1]]}], lr=0.01)
    assert opt.param_groups[1]["momentum"] == 0 and opt.param_groups[1]["lr"] == 0.01
    refs = [NpSGD(lr=0.1, momentum=0.9), NpSGD(lr=0.01)]
    for _ in range(4):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
        grads = _np_grads(arrays)
        arrays = [refs[i].update(i, a, g) for i, (a, g) in enumerate(zip(arrays, grads))]
    for p, a in zip(params, arrays):
        np.testing.assert_allclose(A(p), a, rtol=1e-10)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad", "adamax"])
def test_add_param_group_mid_training(device, name):
    cls, ref_cls = _CLASSES[name]
    arrays, params = _init_params(device)
    kw = dict(lr=0.05)
    opt = cls([params[0]], **kw)
    ref_a, ref_b = ref_cls(**kw), ref_cls(lr=0.02)
    for step in range(4):
        if step == 2:
            opt.add_param_group({"params": params[1], "lr": 0.02})
            assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.02
            for k, v in opt.defaults.items():
                if k != "lr":
                    assert opt.param_groups[1][k] == v, f"default {k} was not filled in"
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
        grads = _np_grads(arrays)
        arrays[0] = ref_a.update(0, arrays[0], grads[0])
        if step >= 2:
            arrays[1] = ref_b.update(1, arrays[1], grads[1])
        for p, a in zip(params, arrays):
            np.testing.assert_allclose(A(p), a, rtol=1e-9, atol=1e-12, err_msg=f"step {step}")
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [params[0]]})  # already in a group


def test_adagrad_state_exists_before_the_first_step():
    p = ember.zeros(3, requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    st = opt.state[p]
    assert st["step"] == 0 and np.all(A(st["sum"]) == 0.25)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad, optim.Adamax])
def test_zero_grad_and_missing_grads(cls):
    a, b = ember.ones(2, requires_grad=True), ember.ones(2, requires_grad=True)
    opt = cls([a, b], lr=0.1)
    (a * 2).sum().backward()
    before_b = A(b)
    opt.step()  # b has no gradient: it is left alone
    np.testing.assert_array_equal(A(b), before_b)
    assert not np.allclose(A(a), 1.0)
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and np.all(A(a.grad) == 0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_closure_returns_loss(device):
    _, params = _init_params(device)
    opt = optim.RMSprop(params, lr=0.01)

    def closure():
        opt.zero_grad()
        loss = _loss(params)
        loss.backward()
        return loss

    first = opt.step(closure).item()
    second = opt.step(closure).item()
    assert second < first


@pytest.mark.parametrize("name,kw", [
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)), ("adam", dict(lr=0.05, amsgrad=True)),
    ("adamw", dict(lr=0.05)), ("rmsprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("adagrad", dict(lr=0.1, lr_decay=0.1)), ("adamax", dict(lr=0.05)),
])
def test_optimizer_state_dict_round_trip(device, name, kw):
    cls = _CLASSES[name][0]
    _, params = _init_params(device)
    opt = cls(params, **kw)
    for _ in range(3):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
    opt.param_groups[0]["lr"] *= 0.5  # a changed hyper-parameter travels with the state
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"} and sd["param_groups"][0]["params"] == [0, 1]
    clones = [p.detach().clone().requires_grad_(True) for p in params]
    opt2 = cls(clones, **kw)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for _ in range(3):
        for o, ps in ((opt, params), (opt2, clones)):
            o.zero_grad()
            _loss(ps).backward()
            o.step()
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(A(p), A(q))
    # The loaded state is a copy: stepping opt2 did not touch opt's buffers.
    st1, st2 = opt.state[params[0]], opt2.state[clones[0]]
    for k, v in st1.items():
        if isinstance(v, ember.Tensor):
            assert st2[k] is not v
    with pytest.raises(ValueError):
        cls([clones[0]], **kw).load_state_dict(sd)  # a group of a different size


def test_optimizer_rejects_bad_params():
    with pytest.raises(TypeError):
        optim.SGD(ember.zeros(2, requires_grad=True), lr=0.1)
    with pytest.raises(ValueError):
        optim.Adam([], lr=0.1)
    x = ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError):
        optim.Adamax([x * 2])  # not a leaf


# ------------------------------------------------------------------------------- schedulers
def _opt(lr=0.1, groups=1, **kw):
    ps = [{"params": [ember.zeros(1, requires_grad=True)]} for _ in range(groups)]
    return optim.SGD(ps, lr=lr, **kw)


def _curve(sched, opt, n):
    lrs = [opt.param_groups[0]["lr"]]
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    for _ in range(n - 1):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


@pytest.mark.parametrize("make,closed", [
    (lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 3)),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[5, 2], gamma=0.1), lambda t: 0.1 * 0.1 ** ((t >= 2) + (t >= 5))),
    (lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), lambda t: 0.1 * 0.9**t),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01), lambda t: 0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4), lambda t: 0.1 * (0.25 + 0.75 * min(t, 4) / 4)),
    (lambda o: lr_scheduler.LinearLR(o), lambda t: 0.1 * (1 / 3 + (2 / 3) * min(t, 5) / 5)),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0 / (e + 1)), lambda t: 0.1 / (t + 1)),
])
def test_scheduler_closed_forms(make, closed):
    opt = _opt()
    sched = make(opt)
    np.testing.assert_allclose(_curve(sched, opt, 11), [closed(t) for t in range(11)], rtol=1e-12, atol=1e-15)


def _one_cycle_ref(t, total, max_lr, pct, div, final_div, anneal, three_phase):
    init, low = max_lr / div, max_lr / div / final_div
    cos = lambda a, b, p: b + (a - b) / 2 * (1 + math.cos(math.pi * p))  # noqa: E731
    lin = lambda a, b, p: (b - a) * p + a  # noqa: E731
    f = cos if anneal == "cos" else lin
    up = pct * total - 1
    phases = [(up, init, max_lr), (2 * up, max_lr, init), (total - 1, init, low)] if three_phase else [(up, init, max_lr), (total - 1, max_lr, low)]
    start = 0.0
    for i, (end, a, b) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            return f(a, b, (t - start) / (end - start))
        start = end


@pytest.mark.parametrize("anneal,three_phase", [("cos", False), ("linear", False), ("cos", True)])
def test_one_cycle_lr(anneal, three_phase):
    opt = _opt(momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=20, pct_start=0.3, anneal_strategy=anneal, three_phase=three_phase)
    got = _curve(sched, opt, 20)
    exp = [_one_cycle_ref(t, 20, 1.0, 0.3, 25.0, 1e4, anneal, three_phase) for t in range(20)]
    np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-15)
    assert got[0] == pytest.approx(0.04) and got.max() == pytest.approx(1.0) and got[-1] == pytest.approx(0.04 / 1e4)
    with pytest.raises(ValueError):
        for _ in range(5):
            sched.step()


def test_one_cycle_cycles_momentum():
    opt = _opt(momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3)
    moms = [opt.param_groups[0]["momentum"]]
    for _ in range(9):
        opt.step()
        sched.step()
        moms.append(opt.param_groups[0]["momentum"])
    # max_momentum 0.95 at the start and the end, base_momentum 0.85 at the peak learning rate.
    assert moms[0] == pytest.approx(0.95) and moms[2] == pytest.approx(0.85) and moms[-1] == pytest.approx(0.95)


def test_sequential_lr_warmup_then_decay():
    opt = _opt()
    warm = lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    sched = lr_scheduler.SequentialLR(opt, [warm, decay], milestones=[3])
    np.testing.assert_allclose(_curve(sched, opt, 7), [0.05, 0.075, 0.1, 0.1, 0.05, 0.025, 0.0125], rtol=1e-12)
    with pytest.raises(ValueError):
        lr_scheduler.SequentialLR(opt, [warm, decay], milestones=[1, 2])


def test_lambda_lr_per_group_and_scheduler_drives_the_optimizer():
    opt = _opt(groups=2)
    sched = lr_scheduler.LambdaLR(opt, [lambda e: 0.5**e, lambda e: e + 1.0])
    for _ in range(3):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.1 * 0.125, 0.1 * 4.0])
    # The optimizer really uses the scheduled rate: one SGD step moves p by -lr * grad.
    p = ember.zeros(1, requires_grad=True)
    o = optim.SGD([p], lr=1.0)
    s = lr_scheduler.StepLR(o, step_size=1, gamma=0.1)
    moves = []
    for _ in range(3):
        before = p.item()
        o.zero_grad()
        p.sum().backward()
        o.step()
        s.step()
        moves.append(before - p.item())
    np.testing.assert_allclose(moves, [1.0, 0.1, 0.01], rtol=1e-6)


def test_reduce_lr_on_plateau():
    opt = _opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, cooldown=1, min_lr=0.02)
    metrics = [1.0, 0.9] + [0.9] * 11
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02], rtol=1e-12)
    opt = _opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.1, threshold_mode="abs")
    for m in [1.0, 1.05, 1.2]:  # 1.05 is not better by the absolute threshold 0.1; 1.2 is
        sched.step(m)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    with pytest.raises(ValueError):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
