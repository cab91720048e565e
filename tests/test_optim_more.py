"""The rest of ember.optim against PyTorch's documented behaviour: NAdam, RAdam, Adadelta, Rprop,
ASGD and LBFGS trajectories against NumPy re-implementations of PyTorch's update rules (float64),
state_dict round trips with PyTorch's state keys, add_param_group, the implementation keywords
(foreach/fused/capturable/differentiable) and argument errors; LBFGS with a strong-Wolfe line
search on the Rosenbrock function; the learning-rate schedulers' curves against their closed
forms; and optim.swa_utils. Float64 on the CPU, plus a float32 check that the steps agree on
the GPU backend where there is one; about a second."""

import copy
import math

import numpy as np
import pytest

import ember
from ember import nn, optim
from ember.optim import lr_scheduler, swa_utils


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)


def A(t):
    return np.array(t.detach().cpu().numpy(), copy=True)


# f(p) = sum(0.5 c p^2 + d p + 0.25 p^4): a gradient c p + d + p^3 that is nonlinear in p.
SHAPES = [(3, 2), (4,)]


def _coefs(shape, seed):
    r = np.random.default_rng(seed)
    return r.uniform(0.5, 2.0, shape), r.standard_normal(shape)


def _init_params():
    r = np.random.default_rng(42)
    arrays = [r.standard_normal(s) for s in SHAPES]
    return arrays, [ember.from_numpy(a.copy()).requires_grad_(True) for a in arrays]


def _loss(params):
    total = None
    for i, p in enumerate(params):
        c, d = _coefs(tuple(p.shape), i)
        term = (ember.from_numpy(c) * p * p * 0.5 + ember.from_numpy(d) * p + p**4 * 0.25).sum()
        total = term if total is None else total + term
    return total


def _np_loss(arrays):
    return sum(float(np.sum(0.5 * c * a * a + d * a + 0.25 * a**4)) for a, (c, d) in ((a, _coefs(a.shape, i)) for i, a in enumerate(arrays)))


def _np_grads(arrays):
    return [c * a + d + a**3 for a, (c, d) in ((a, _coefs(a.shape, i)) for i, a in enumerate(arrays))]


# ------------------------------------------------------------ NumPy versions of PyTorch's docs
class NpNAdam:
    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        self.h = dict(lr=lr, b1=betas[0], b2=betas[1], eps=eps, wd=weight_decay, psi=momentum_decay, dec=decoupled_weight_decay, maximize=maximize)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(t=0, m=np.zeros_like(p), v=np.zeros_like(p), prod=1.0))
        st["t"] += 1
        t = st["t"]
        if h["wd"]:
            if h["dec"]:
                p = p - h["lr"] * h["wd"] * p
            else:
                g = g + h["wd"] * p
        mu = h["b1"] * (1 - 0.5 * 0.96 ** (t * h["psi"]))
        mu_next = h["b1"] * (1 - 0.5 * 0.96 ** ((t + 1) * h["psi"]))
        st["prod"] *= mu
        st["m"] = h["b1"] * st["m"] + (1 - h["b1"]) * g
        st["v"] = h["b2"] * st["v"] + (1 - h["b2"]) * g * g
        m_hat = mu_next * st["m"] / (1 - st["prod"] * mu_next) + (1 - mu) * g / (1 - st["prod"])
        v_hat = st["v"] / (1 - h["b2"] ** t)
        return p - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])


class NpRAdam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
        self.h = dict(lr=lr, b1=betas[0], b2=betas[1], eps=eps, wd=weight_decay, dec=decoupled_weight_decay, maximize=maximize)
        self.s = {}
        self.rectified = set()

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(t=0, m=np.zeros_like(p), v=np.zeros_like(p)))
        st["t"] += 1
        t = st["t"]
        if h["wd"]:
            if h["dec"]:
                p = p - h["lr"] * h["wd"] * p
            else:
                g = g + h["wd"] * p
        st["m"] = h["b1"] * st["m"] + (1 - h["b1"]) * g
        st["v"] = h["b2"] * st["v"] + (1 - h["b2"]) * g * g
        m_hat = st["m"] / (1 - h["b1"] ** t)
        rho_inf = 2 / (1 - h["b2"]) - 1
        rho_t = rho_inf - 2 * t * h["b2"] ** t / (1 - h["b2"] ** t)
        if rho_t > 5:
            self.rectified.add(t)
            l_t = math.sqrt(1 - h["b2"] ** t) / (np.sqrt(st["v"]) + h["eps"])
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return p - h["lr"] * m_hat * r_t * l_t
        return p - h["lr"] * m_hat


class NpAdadelta:
    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        self.h = dict(lr=lr, rho=rho, eps=eps, wd=weight_decay, maximize=maximize)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(v=np.zeros_like(p), u=np.zeros_like(p)))
        if h["wd"]:
            g = g + h["wd"] * p
        st["v"] = h["rho"] * st["v"] + (1 - h["rho"]) * g * g
        dx = np.sqrt(st["u"] + h["eps"]) / np.sqrt(st["v"] + h["eps"]) * g
        st["u"] = h["rho"] * st["u"] + (1 - h["rho"]) * dx * dx
        return p - h["lr"] * dx


class NpRprop:
    def __init__(self, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
        self.h = dict(lr=lr, em=etas[0], ep=etas[1], lo=step_sizes[0], hi=step_sizes[1], maximize=maximize)
        self.s = {}
        self.flips = 0

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(prev=np.zeros_like(p), eta=np.full_like(p, h["lr"])))
        g = g.copy()
        prod = st["prev"] * g
        up, down = prod > 0, prod < 0
        st["eta"] = np.where(up, np.minimum(st["eta"] * h["ep"], h["hi"]), st["eta"])
        st["eta"] = np.where(down, np.maximum(st["eta"] * h["em"], h["lo"]), st["eta"])
        self.flips += int(down.sum())
        g[down] = 0
        st["prev"] = g
        return p - st["eta"] * np.sign(g)


class NpASGD:
    def __init__(self, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
        self.h = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, wd=weight_decay, maximize=maximize)
        self.s = {}

    def update(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        st = self.s.setdefault(i, dict(t=0, eta=h["lr"], mu=1.0, ax=np.zeros_like(p)))
        st["t"] += 1
        t = st["t"]
        if h["wd"]:
            g = g + h["wd"] * p
        p = p * (1 - h["lambd"] * st["eta"]) - st["eta"] * g
        st["ax"] = st["ax"] + st["mu"] * (p - st["ax"]) if st["mu"] != 1 else p.copy()
        st["eta"] = h["lr"] / (1 + h["lambd"] * h["lr"] * t) ** h["alpha"]
        st["mu"] = 1 / max(1, t - h["t0"])
        return p


def _run(opt, params, ref, arrays, steps):
    for step in range(steps):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
        grads = _np_grads(arrays)
        arrays = [ref.update(i, a, g) for i, (a, g) in enumerate(zip(arrays, grads))]
        for p, a in zip(params, arrays):
            np.testing.assert_allclose(A(p), a, rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}")
    return arrays


CASES = [
    ("nadam", dict(lr=0.05)),
    ("nadam", dict(lr=0.05, betas=(0.8, 0.9), momentum_decay=0.05, weight_decay=0.1)),
    ("nadam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("radam", dict(lr=0.05)),
    ("radam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    ("radam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("adadelta", dict()),
    ("adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("adadelta", dict(lr=0.5, weight_decay=0.05, maximize=True)),
    ("rprop", dict(lr=0.3)),
    ("rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("rprop", dict(lr=0.1, maximize=True)),
    ("asgd", dict(lr=0.05)),
    ("asgd", dict(lr=0.05, lambd=0.05, alpha=0.6, t0=3, weight_decay=0.1)),
    ("asgd", dict(lr=0.02, t0=2, weight_decay=0.1, maximize=True)),
]

CLASSES = {
    "nadam": (optim.NAdam, NpNAdam),
    "radam": (optim.RAdam, NpRAdam),
    "adadelta": (optim.Adadelta, NpAdadelta),
    "rprop": (optim.Rprop, NpRprop),
    "asgd": (optim.ASGD, NpASGD),
}


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CASES])
def test_trajectory_matches_numpy(name, kw):
    cls, ref_cls = CLASSES[name]
    arrays, params = _init_params()
    opt, ref = cls(params, **kw), ref_cls(**kw)
    _run(opt, params, ref, arrays, steps=8)
    if name == "radam":
        assert 8 in ref.rectified and 1 not in ref.rectified  # both branches (plain and rectified) ran
    if name == "rprop" and kw.get("lr") == 0.3:
        assert ref.flips > 0  # sign flips (the shrink-and-skip branch) happened
    if name == "asgd":
        for i, p in enumerate(params):
            np.testing.assert_allclose(A(opt.state[p]["ax"]), ref.s[i]["ax"], rtol=1e-10, atol=1e-12)
            assert opt.state[p]["eta"] == pytest.approx(ref.s[i]["eta"], rel=1e-12)
            assert opt.state[p]["mu"] == pytest.approx(ref.s[i]["mu"], rel=1e-12)


def test_maximize_climbs():
    for cls in (optim.NAdam, optim.RAdam, optim.Adadelta, optim.Rprop, optim.ASGD, optim.SGD, optim.Adam, optim.Adagrad):
        p = ember.tensor([0.3], dtype=ember.float64, requires_grad=True)
        opt = cls([p], lr=0.01, maximize=True)
        for _ in range(3):
            opt.zero_grad()
            (-(p - 1.0) ** 2).sum().backward()  # maximum at 1
            opt.step()
        assert 0.3 < p.item() < 1.0, cls.__name__


STATE_KEYS = {
    "nadam": {"step", "mu_product", "exp_avg", "exp_avg_sq"},
    "radam": {"step", "exp_avg", "exp_avg_sq"},
    "adadelta": {"step", "square_avg", "acc_delta"},
    "rprop": {"step", "prev", "step_size"},
    "asgd": {"step", "eta", "mu", "ax"},
}


@pytest.mark.parametrize("name", sorted(STATE_KEYS))
def test_state_dict_round_trip(name):
    cls, _ = CLASSES[name]
    kw = dict(weight_decay=0.1) if name not in ("rprop",) else {}
    _, params = _init_params()
    opt = cls(params, lr=0.05, **kw)
    for _ in range(3):
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1}
    assert set(sd["state"][0]) == STATE_KEYS[name]
    assert sd["state"][0]["step"] == 3
    assert sd["param_groups"][0]["params"] == [0, 1] and sd["param_groups"][0]["lr"] == 0.05
    # A fresh optimizer on copies of the parameters, loaded from the state dict, steps the same.
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    opt2 = cls(twins, lr=1.0)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.param_groups[0]["lr"] == 0.05
    for _ in range(3):
        for o, ps in ((opt, params), (opt2, twins)):
            o.zero_grad()
            _loss(ps).backward()
            o.step()
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(A(p), A(q))
    # The loaded state is the optimizer's own: stepping it left the saved dict alone.
    assert sd["state"][0]["step"] == 3


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_add_param_group(name):
    cls, ref_cls = CLASSES[name]
    arrays, params = _init_params()
    opt = cls([params[0]], lr=0.05)
    ref = ref_cls(lr=0.05)
    ref2 = ref_cls(lr=0.02)
    for step in range(4):
        if step == 2:
            opt.add_param_group({"params": [params[1]], "lr": 0.02})
            assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.02
            assert all(k in opt.param_groups[1] for k in opt.defaults)
        opt.zero_grad()
        _loss(params).backward()
        opt.step()
        g = _np_grads(arrays)
        arrays[0] = ref.update(0, arrays[0], g[0])
        if step >= 2:
            arrays[1] = ref2.update(1, arrays[1], g[1])
        for p, a in zip(params, arrays):
            np.testing.assert_allclose(A(p), a, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [params[0]]})


ALL = [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad, optim.Adamax, optim.NAdam, optim.RAdam, optim.Adadelta, optim.Rprop, optim.ASGD]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_implementation_keywords(cls):
    # ember's steps are already fused: these choose nothing, and the trajectory is the same.
    results = []
    for kw in (dict(), dict(foreach=True), dict(foreach=False, fused=True), dict(fused=False, capturable=True), dict(differentiable=False, foreach=None, fused=None)):
        _, params = _init_params()
        opt = cls(params, lr=0.01, **kw)
        for _ in range(2):
            opt.zero_grad()
            _loss(params).backward()
            opt.step()
        results.append([A(p) for p in params])
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)
    p = [ember.zeros(2, requires_grad=True)]
    with pytest.raises(RuntimeError):
        cls(p, lr=0.01, foreach=True, fused=True)
    with pytest.raises(RuntimeError):
        cls(p, lr=0.01, differentiable=True)


def test_defaults_match_torch():
    p = [ember.zeros(2, requires_grad=True)]
    d = optim.NAdam(p).defaults
    assert (d["lr"], d["betas"], d["eps"], d["weight_decay"], d["momentum_decay"], d["decoupled_weight_decay"]) == (2e-3, (0.9, 0.999), 1e-8, 0, 4e-3, False)
    d = optim.RAdam(p).defaults
    assert (d["lr"], d["betas"], d["eps"], d["weight_decay"], d["decoupled_weight_decay"]) == (1e-3, (0.9, 0.999), 1e-8, 0, False)
    d = optim.Adadelta(p).defaults
    assert (d["lr"], d["rho"], d["eps"], d["weight_decay"]) == (1.0, 0.9, 1e-6, 0)
    d = optim.Rprop(p).defaults
    assert (d["lr"], d["etas"], d["step_sizes"]) == (1e-2, (0.5, 1.2), (1e-6, 50))
    d = optim.ASGD(p).defaults
    assert (d["lr"], d["lambd"], d["alpha"], d["t0"], d["weight_decay"]) == (1e-2, 1e-4, 0.75, 1e6, 0)
    d = optim.LBFGS(p).defaults
    assert (d["lr"], d["max_iter"], d["max_eval"], d["tolerance_grad"], d["tolerance_change"], d["history_size"], d["line_search_fn"]) == (1, 20, 25, 1e-7, 1e-9, 100, None)
    assert all(not optim.__dict__[c.__name__](p).defaults["maximize"] for c in ALL)


@pytest.mark.parametrize("cls,bad,message", [
    (optim.NAdam, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.NAdam, dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (optim.NAdam, dict(momentum_decay=-0.1), "Invalid momentum_decay value: -0.1"),
    (optim.NAdam, dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (optim.RAdam, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.RAdam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (optim.RAdam, dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (optim.Adadelta, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.Adadelta, dict(rho=1.5), "Invalid rho value: 1.5"),
    (optim.Adadelta, dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (optim.Adadelta, dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (optim.Rprop, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.Rprop, dict(etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
    (optim.Rprop, dict(etas=(0.5, 0.9)), "Invalid eta values: 0.5, 0.9"),
    (optim.ASGD, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.ASGD, dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (optim.LBFGS, dict(lr=-1), "Invalid learning rate: -1"),
])
def test_bad_arguments_raise_value_error(cls, bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls([ember.zeros(2, requires_grad=True)], **bad)


def test_bad_params_raise_torch_types():
    with pytest.raises(TypeError):
        optim.NAdam(ember.zeros(2, requires_grad=True))
    with pytest.raises(ValueError):
        optim.RAdam([])
    with pytest.raises(TypeError):
        optim.Adadelta([1.0])


# ------------------------------------------------------------------------------------- LBFGS
def _np_lbfgs(x, f_and_g, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9, history_size=100, state=None):
    """PyTorch's LBFGS step without a line search, in NumPy (x: the flat parameters)."""
    max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
    st = state
    st.setdefault("n_iter", 0)
    loss, g = f_and_g(x)
    orig = loss
    evals = 1
    if np.abs(g).max() <= tolerance_grad:
        return x, orig
    d, t, dirs, stps, ro, H, prev_g = st.get("d"), st.get("t"), st.get("dirs"), st.get("stps"), st.get("ro"), st.get("H"), st.get("prev_g")
    n = 0
    while n < max_iter:
        n += 1
        st["n_iter"] += 1
        if st["n_iter"] == 1:
            d, dirs, stps, ro, H = -g, [], [], [], 1.0
        else:
            y, s = g - prev_g, d * t
            ys = y @ s
            if ys > 1e-10:
                if len(dirs) == history_size:
                    dirs.pop(0), stps.pop(0), ro.pop(0)
                dirs.append(y), stps.append(s), ro.append(1 / ys)
                H = ys / (y @ y)
            al = [0.0] * len(dirs)
            q = -g
            for i in range(len(dirs) - 1, -1, -1):
                al[i] = (stps[i] @ q) * ro[i]
                q = q - al[i] * dirs[i]
            r = q * H
            for i in range(len(dirs)):
                r = r + stps[i] * (al[i] - (dirs[i] @ r) * ro[i])
            d = r
        prev_g, prev_loss = g.copy(), loss
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if st["n_iter"] == 1 else lr
        if g @ d > -tolerance_change:
            break
        x = x + t * d
        opt_cond = False
        if n != max_iter:
            loss, g = f_and_g(x)
            opt_cond = np.abs(g).max() <= tolerance_grad
            evals += 1
        if n == max_iter or evals >= max_eval or opt_cond or np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
            break
    st.update(d=d, t=t, dirs=dirs, stps=stps, ro=ro, H=H, prev_g=prev_g)
    return x, orig


def _split(x):
    sizes = [int(np.prod(s)) for s in SHAPES]
    return [x[sum(sizes[:i]) : sum(sizes[: i + 1])].reshape(s) for i, s in enumerate(SHAPES)]


@pytest.mark.parametrize("kw", [dict(lr=0.5, max_iter=4), dict(lr=1, max_iter=7, history_size=3)])
def test_lbfgs_matches_numpy(kw):
    arrays, params = _init_params()
    opt = optim.LBFGS(params, **kw)

    def closure():
        opt.zero_grad()
        loss = _loss(params)
        loss.backward()
        return loss

    def f_and_g(x):
        a = _split(x)
        return _np_loss(a), np.concatenate([g.ravel() for g in _np_grads(a)])

    x = np.concatenate([a.ravel() for a in arrays])
    st = {}
    for step in range(3):
        loss = opt.step(closure)
        x, ref_loss = _np_lbfgs(x, f_and_g, state=st, **kw)
        assert float(loss) == pytest.approx(ref_loss, rel=1e-10)
        for p, a in zip(params, _split(x)):
            np.testing.assert_allclose(A(p), a, rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}")
    assert opt.state[params[0]]["n_iter"] == st["n_iter"]


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_lbfgs_strong_wolfe_minimises_rosenbrock():
    x = ember.tensor([-1.5, 2.0], dtype=ember.float64, requires_grad=True)
    opt = optim.LBFGS([x], lr=1, max_iter=200, history_size=10, tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(A(x), [1.0, 1.0], atol=1e-6)
    assert _rosenbrock(x).item() < 1e-12
    st = opt.state[x]
    assert {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss"} <= set(st)
    assert st["func_evals"] > st["n_iter"] > 10  # the line search evaluated extra points


def test_lbfgs_plain_rosenbrock_and_state_dict():
    x = ember.tensor([-1.2, 1.0], dtype=ember.float64, requires_grad=True)
    opt = optim.LBFGS([x], lr=0.1, max_iter=5)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    opt.step(closure)
    sd = copy.deepcopy(opt.state_dict())
    y = x.detach().clone().requires_grad_(True)
    opt2 = optim.LBFGS([y], lr=0.1, max_iter=5)
    opt2.load_state_dict(sd)

    def closure2():
        opt2.zero_grad()
        loss = _rosenbrock(y)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
        opt2.step(closure2)
    np.testing.assert_array_equal(A(x), A(y))
    assert opt.state[x]["n_iter"] == opt2.state[y]["n_iter"] == 20


def test_lbfgs_errors():
    x = ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [x]}, {"params": [ember.zeros(2, requires_grad=True)]}])
    opt = optim.LBFGS([x])
    with pytest.raises(TypeError):
        opt.step()
    with pytest.raises(RuntimeError):
        opt.step(None)
    with pytest.raises(ValueError):
        opt.add_param_group({"params": [ember.zeros(1, requires_grad=True)]})
    bad = optim.LBFGS([x], line_search_fn="backtracking")

    def closure():
        bad.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        bad.step(closure)


# -------------------------------------------------------------------------------- schedulers
N = 25  # steps checked for every scheduler
BASE = 0.1


def _opt(groups=1, cls=optim.SGD, **kw):
    return cls([{"params": [ember.zeros(1, requires_grad=True)]} for _ in range(groups)], lr=BASE, **kw)


def _curve(sched, opt, n=N):
    lrs = []
    for _ in range(n):
        lrs.append(sched.get_last_lr()[0])
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        opt.step()
        sched.step()
    return np.array(lrs)


def _cos(base, eta_min, t, T):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2


def _warm_restarts(t, T0, mult, eta_min):
    Ti, cur = T0, t
    while cur >= Ti:
        cur, Ti = cur - Ti, Ti * mult
    return _cos(BASE, eta_min, cur, Ti)


def _cyclic(t, lo, hi, up, down, scale):
    pos = t % (up + down)
    frac = pos / up if pos <= up else 1 - (pos - up) / down
    return lo + (hi - lo) * frac * scale(t // (up + down) + 1, t)


def _one_cycle(t, total=30, pct=0.25, max_lr=1.0):
    """OneCycleLR's documented two-phase cosine: from max_lr / 25 up to max_lr, then down to
    max_lr / 25 / 1e4."""
    up = pct * total - 1
    if t <= up:
        return max_lr / 25 + (max_lr - max_lr / 25) * (1 - math.cos(math.pi * t / up)) / 2
    low = max_lr / 25 / 1e4
    return low + (max_lr - low) * (1 + math.cos(math.pi * (t - up) / (total - 1 - up))) / 2


SCHEDULES = {
    "OneCycleLR": (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=30, pct_start=0.25), _one_cycle),
    "SWALR": (lambda o: swa_utils.SWALR(o, swa_lr=0.02, anneal_epochs=12), lambda t: 0.02 + (BASE - 0.02) * (1 + math.cos(math.pi * min(t, 12) / 12)) / 2),
    "LambdaLR": (lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.95**e + 0.01 * e), lambda t: BASE * (0.95**t + 0.01 * t)),
    "MultiplicativeLR": (lambda o: lr_scheduler.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 1.05), lambda t: BASE * math.prod(0.9 if e % 2 else 1.05 for e in range(1, t + 1))),
    "StepLR": (lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.5), lambda t: BASE * 0.5 ** (t // 4)),
    "MultiStepLR": (lambda o: lr_scheduler.MultiStepLR(o, milestones=[15, 3, 8, 8], gamma=0.5), lambda t: BASE * 0.5 ** ((t >= 3) + 2 * (t >= 8) + (t >= 15))),
    "ConstantLR": (lambda o: lr_scheduler.ConstantLR(o, factor=0.25, total_iters=7), lambda t: BASE * (0.25 if t < 7 else 1.0)),
    "ConstantLR-default": (lambda o: lr_scheduler.ConstantLR(o), lambda t: BASE * (1 / 3 if t < 5 else 1.0)),
    "LinearLR": (lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12), lambda t: BASE * (0.2 + 0.7 * min(t, 12) / 12)),
    "ExponentialLR": (lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9), lambda t: BASE * 0.9**t),
    "PolynomialLR": (lambda o: lr_scheduler.PolynomialLR(o, total_iters=18, power=2.0), lambda t: BASE * (1 - min(t, 18) / 18) ** 2),
    "PolynomialLR-default": (lambda o: lr_scheduler.PolynomialLR(o), lambda t: BASE * (1 - min(t, 5) / 5)),
    "CosineAnnealingLR": (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01), lambda t: _cos(BASE, 0.01, t, 8)),
    "CosineAnnealingWarmRestarts": (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=6), lambda t: _warm_restarts(t, 6, 1, 0.0)),
    "CosineAnnealingWarmRestarts-mult": (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.005), lambda t: _warm_restarts(t, 3, 2, 0.005)),
    "CyclicLR-triangular": (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=4), lambda t: _cyclic(t, 0.01, 0.1, 4, 4, lambda c, i: 1.0)),
    "CyclicLR-asymmetric": (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=5), lambda t: _cyclic(t, 0.01, 0.1, 2, 5, lambda c, i: 1.0)),
    "CyclicLR-triangular2": (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"), lambda t: _cyclic(t, 0.01, 0.1, 3, 3, lambda c, i: 0.5 ** (c - 1))),
    "CyclicLR-exp_range": (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range", gamma=0.9), lambda t: _cyclic(t, 0.01, 0.1, 3, 3, lambda c, i: 0.9**i)),
    "CyclicLR-scale_fn": (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 1 / (1 + 0.1 * x), scale_mode="iterations"), lambda t: _cyclic(t, 0.01, 0.1, 3, 3, lambda c, i: 1 / (1 + 0.1 * i))),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_curves(name):
    make, closed = SCHEDULES[name]
    opt = _opt()
    sched = make(opt)
    np.testing.assert_allclose(_curve(sched, opt), [closed(t) for t in range(N)], rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_state_dict_round_trip(name):
    make, closed = SCHEDULES[name]
    opt = _opt()
    sched = make(opt)
    for _ in range(9):
        opt.step()
        sched.step()
    sd = copy.deepcopy(sched.state_dict())
    assert "optimizer" not in sd and sd["last_epoch"] == 9
    # A scheduler built afresh on another optimizer at the same point resumes the same curve.
    opt2 = _opt()
    sched2 = make(opt2)
    sched2.load_state_dict(sd)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    assert sched2.get_last_lr() == sched.get_last_lr()
    a, b = _curve(sched, opt, 8), _curve(sched2, opt2, 8)
    np.testing.assert_allclose(a, b, rtol=1e-14)
    np.testing.assert_allclose(a, [closed(t) for t in range(9, 17)], rtol=1e-11, atol=1e-15)


def test_epoch_argument_uses_closed_forms():
    opt = _opt()
    sched = lr_scheduler.PolynomialLR(opt, total_iters=10, power=3.0)
    for e in (7, 2, 12):
        sched.step(e)
        assert opt.param_groups[0]["lr"] == pytest.approx(BASE * (1 - min(e, 10) / 10) ** 3, abs=1e-15)
    opt = _opt()
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)
    for e in (0.5, 5.0, 13.25):
        sched.step(e)
        assert opt.param_groups[0]["lr"] == pytest.approx(_warm_restarts(e, 4, 2, 0.0), rel=1e-12)
    with pytest.raises(ValueError):
        sched.step(-1)


def test_cyclic_lr_cycles_momentum():
    opt = _opt(momentum=0.9)
    sched = lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4, base_momentum=0.8, max_momentum=0.9)
    moms = []
    for _ in range(N):
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    exp = [0.9 - 0.1 * (_cyclic(t, 0.0, 1.0, 4, 4, lambda c, i: 1.0)) for t in range(N)]
    np.testing.assert_allclose(moms, exp, rtol=1e-12)
    # With Adam, beta1 cycles; an optimizer with neither momentum nor betas is refused.
    opt = _opt(cls=optim.Adam)
    lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=2)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    opt.step()
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.CyclicLR(_opt(cls=optim.Adadelta), 0.01, 0.1)
    lr_scheduler.CyclicLR(_opt(cls=optim.Adadelta), 0.01, 0.1, cycle_momentum=False)


def test_sequential_lr_curve():
    opt = _opt()
    warm = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)
    cos = lr_scheduler.CosineAnnealingLR(opt, T_max=15, eta_min=0.001)
    sched = lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[5])
    closed = [BASE * (0.1 + 0.9 * t / 5) if t < 5 else _cos(BASE, 0.001, t - 5, 15) for t in range(N)]
    np.testing.assert_allclose(_curve(sched, opt), closed, rtol=1e-11, atol=1e-15)
    sd = copy.deepcopy(sched.state_dict())
    assert len(sd["_schedulers"]) == 2 and sd["_schedulers"][1]["T_max"] == 15


def test_chained_scheduler_curve_and_state():
    opt = _opt(groups=2)
    s1 = lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=2)
    s2 = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    s3 = lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    sched = lr_scheduler.ChainedScheduler([s1, s2, s3])
    # The factors multiply: each scheduler's closed form times the others'.
    closed = [BASE * (0.1 if t < 2 else 1.0) * 0.9**t * 0.5 ** (t // 10) for t in range(N)]
    np.testing.assert_allclose(_curve(sched, opt), closed, rtol=1e-11)
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups] and len(sched.get_last_lr()) == 2
    sd = copy.deepcopy(sched.state_dict())
    assert [d["last_epoch"] for d in sd["_schedulers"]] == [N, N, N]
    opt2 = _opt(groups=2)
    twin = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt2, factor=0.1, total_iters=2), lr_scheduler.ExponentialLR(opt2, gamma=0.9), lr_scheduler.StepLR(opt2, step_size=10, gamma=0.5)], optimizer=opt2)
    twin.load_state_dict(sd)
    for g, h in zip(opt2.param_groups, opt.param_groups):
        g["lr"] = h["lr"]
    np.testing.assert_allclose(_curve(twin, opt2, 5), _curve(sched, opt, 5), rtol=1e-14)
    with pytest.raises(ValueError):
        lr_scheduler.ChainedScheduler([s1, lr_scheduler.StepLR(_opt(), 3)])
    with pytest.raises(ValueError):
        lr_scheduler.ChainedScheduler([])
    with pytest.raises(ValueError):
        lr_scheduler.ChainedScheduler([s1, lr_scheduler.ReduceLROnPlateau(opt)])


def test_reduce_lr_on_plateau_curve_and_state():
    opt = _opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.004)
    metrics = [1.0, 0.8, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5] + [0.5] * 13
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(sched.get_last_lr()[0])
    # Known values: a cut after 3 epochs without improvement (patience 2), 1 epoch of cooldown.
    exp = [0.1] * 4 + [0.05] * 4 + [0.025] * 4 + [0.0125] * 4 + [0.00625] * 4 + [0.004] * 5
    np.testing.assert_allclose(lrs, exp, rtol=1e-12)
    sd = copy.deepcopy(sched.state_dict())
    assert sd["best"] == 0.5 and "optimizer" not in sd
    twin = lr_scheduler.ReduceLROnPlateau(_opt())
    twin.load_state_dict(sd)
    assert (twin.patience, twin.factor, twin.num_bad_epochs, twin.cooldown_counter) == (2, 0.5, sched.num_bad_epochs, sched.cooldown_counter)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        lr_scheduler.ReduceLROnPlateau(_opt(), mode="avg")
    with pytest.raises(ValueError, match="threshold mode"):
        lr_scheduler.ReduceLROnPlateau(_opt(), threshold_mode="pct")
    with pytest.raises(ValueError):
        lr_scheduler.ReduceLROnPlateau(_opt(groups=2), min_lr=[0.1])


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.ConstantLR(o, factor=1.5),
    lambda o: lr_scheduler.ConstantLR(o, factor=-0.1),
    lambda o: lr_scheduler.LinearLR(o, start_factor=0.0),
    lambda o: lr_scheduler.LinearLR(o, end_factor=1.5),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2.5),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0),
    lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, eta_min="0"),
    lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sawtooth"),
    lambda o: lr_scheduler.CyclicLR(o, [0.01, 0.02], 0.1),
    lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0, lambda e: 1.0]),
    lambda o: lr_scheduler.MultiplicativeLR(o, [lambda e: 1.0, lambda e: 1.0]),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0),
    lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[3]),
], ids=lambda f: "")
def test_scheduler_bad_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make(_opt(momentum=0.9))


def test_resuming_without_initial_lr_is_a_key_error():
    with pytest.raises(KeyError):
        lr_scheduler.StepLR(_opt(), step_size=2, last_epoch=3)


# --------------------------------------------------------------------------------- swa_utils
def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()


def _snapshots(model, k, seed=0):
    """Perturbs the model k times (parameters and BatchNorm statistics); yields after each."""
    r = np.random.default_rng(seed)
    for _ in range(k):
        with ember.no_grad():
            for t in list(model.parameters()) + [model[1].running_mean, model[1].running_var]:
                t.add_(ember.from_numpy(r.standard_normal(tuple(t.shape)) * 0.1))
            model[1].num_batches_tracked.add_(3)
        yield [A(t) for t in model.parameters()], [A(b) for b in model.buffers()]


def test_averaged_model_swa_mean():
    model = _net()
    swa = swa_utils.AveragedModel(model)
    params, bufs = [], []
    for p, b in _snapshots(model, 5):
        swa.update_parameters(model)
        params.append(p)
        bufs.append(b)
    assert swa.n_averaged.item() == 5 and swa.n_averaged.dtype == ember.int64
    for got, *snaps in zip(swa.module.parameters(), *params):
        np.testing.assert_allclose(A(got), np.mean(snaps, axis=0), rtol=1e-12, atol=1e-14)
    # Without use_buffers the buffers are the model's latest, not averaged.
    for got, want in zip(swa.module.buffers(), bufs[-1]):
        np.testing.assert_array_equal(A(got), want)
    # The averaged copy is independent of the model, forwards through its module, and saves n_averaged.
    assert all(a is not b for a, b in zip(swa.parameters(), model.parameters()))
    x = ember.from_numpy(np.random.default_rng(1).standard_normal((5, 3)))
    swa.eval()
    np.testing.assert_array_equal(A(swa(x)), A(swa.module(x)))
    sd = swa.state_dict()
    assert "n_averaged" in sd and "module.0.weight" in sd
    twin = swa_utils.AveragedModel(_net())
    twin.load_state_dict(sd)
    assert twin.n_averaged.item() == 5
    np.testing.assert_array_equal(A(twin.module[0].weight), A(swa.module[0].weight))


def test_averaged_model_use_buffers():
    model = _net()
    swa = swa_utils.AveragedModel(model, use_buffers=True)
    bufs = []
    for _, b in _snapshots(model, 4):
        swa.update_parameters(model)
        bufs.append(b)
    for got, *snaps in zip(swa.module.buffers(), *bufs):
        want = np.mean(snaps, axis=0)
        if got.is_floating_point():
            np.testing.assert_allclose(A(got), want, rtol=1e-12)
        else:  # num_batches_tracked 3, 6, 9, 12: the running mean truncated at each update, 3 4 5 6
            assert got.item() == 6


@pytest.mark.parametrize("kind", ["multi_ema", "ema", "custom"])
def test_averaged_model_avg_functions(kind):
    decay = 0.8
    model = _net()
    if kind == "multi_ema":
        swa = swa_utils.AveragedModel(model, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(decay))
    elif kind == "ema":
        swa = swa_utils.AveragedModel(model, avg_fn=swa_utils.get_ema_avg_fn(decay))
    else:
        seen = []

        def halfway(avg, cur, n):
            seen.append(int(n.item()))
            return (avg + cur) / 2

        swa = swa_utils.AveragedModel(model, avg_fn=halfway)
        decay = 0.5
    ref = None
    for p, _ in _snapshots(model, 5):
        swa.update_parameters(model)
        ref = p if ref is None else [decay * r + (1 - decay) * q for r, q in zip(ref, p)]
    for got, want in zip(swa.module.parameters(), ref):
        np.testing.assert_allclose(A(got), want, rtol=1e-12, atol=1e-14)
    if kind == "custom":
        assert len(seen) == 4 * 6 and sorted(set(seen)) == [1, 2, 3, 4]  # per tensor, the count so far
    with pytest.raises(AssertionError):
        swa_utils.AveragedModel(model, avg_fn=swa_utils.get_swa_avg_fn(), multi_avg_fn=swa_utils.get_swa_multi_avg_fn())


def test_update_bn_recomputes_statistics():
    model = _net()
    r = np.random.default_rng(3)
    batches = [r.standard_normal((8, 3)) * 2 + 1 for _ in range(4)]
    loader = [(ember.from_numpy(b), ember.zeros(8)) for b in batches]
    model.eval()
    model[1].momentum = 0.3
    swa_utils.update_bn(loader, model)
    # The cumulative average over the batches of each batch's statistics (unbiased variance).
    w, b = A(model[0].weight), A(model[0].bias)
    hidden = [x @ w.T + b for x in batches]
    np.testing.assert_allclose(A(model[1].running_mean), np.mean([h.mean(0) for h in hidden], axis=0), rtol=1e-12)
    np.testing.assert_allclose(A(model[1].running_var), np.mean([h.var(0, ddof=1) for h in hidden], axis=0), rtol=1e-12)
    assert model[1].momentum == 0.3 and not model.training and model[1].num_batches_tracked.item() == 4
    # Plain tensors as batches work too, and a model without BatchNorm is left alone.
    swa_utils.update_bn([ember.from_numpy(x) for x in batches], model)
    np.testing.assert_allclose(A(model[1].running_mean), np.mean([h.mean(0) for h in hidden], axis=0), rtol=1e-12)
    swa_utils.update_bn(loader, nn.Linear(3, 2).double())


def _swalr_closed(t, lr0, swa_lr, anneal_epochs, strategy):
    frac = min(1.0, t / max(1, anneal_epochs)) if anneal_epochs else 1.0
    alpha = frac if strategy == "linear" else (1 - math.cos(math.pi * frac)) / 2
    return swa_lr * alpha + lr0 * (1 - alpha)


@pytest.mark.parametrize("anneal_epochs,strategy", [(10, "cos"), (7, "linear"), (0, "cos"), (1, "linear")])
def test_swalr_curve(anneal_epochs, strategy):
    opt = _opt(groups=2)
    opt.param_groups[1]["lr"] = 0.02
    sched = swa_utils.SWALR(opt, swa_lr=[0.05, 0.01], anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    lrs = []
    for _ in range(N):
        lrs.append(sched.get_last_lr())
        opt.step()
        sched.step()
    lrs = np.array(lrs)
    expect = lambda t, lr0, s: lr0 if t == 0 and anneal_epochs else _swalr_closed(t, lr0, s, anneal_epochs, strategy)  # noqa: E731
    np.testing.assert_allclose(lrs[:, 0], [expect(t, BASE, 0.05) for t in range(N)], rtol=1e-11)
    np.testing.assert_allclose(lrs[:, 1], [expect(t, 0.02, 0.01) for t in range(N)], rtol=1e-11)
    assert opt.param_groups[0]["swa_lr"] == 0.05


def test_swalr_bad_arguments():
    with pytest.raises(ValueError, match="anneal_strategy"):
        swa_utils.SWALR(_opt(), swa_lr=0.05, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs"):
        swa_utils.SWALR(_opt(), swa_lr=0.05, anneal_epochs=-1)
    with pytest.raises(ValueError, match="anneal_epochs"):
        swa_utils.SWALR(_opt(), swa_lr=0.05, anneal_epochs=2.5)
    with pytest.raises(ValueError, match="swa_lr"):
        swa_utils.SWALR(_opt(), swa_lr=[0.05, 0.01])


def test_swa_training_loop():
    # PyTorch's recipe: train, start averaging with SWALR, then update_bn on the averaged model.
    r = np.random.default_rng(5)
    xs = [ember.from_numpy(r.standard_normal((16, 3))) for _ in range(4)]
    ys = [ember.from_numpy(x.numpy() @ np.array([[1.0], [-2.0], [0.5]])) for x in xs]
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)).double()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    swa_model = swa_utils.AveragedModel(model)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    swa_sched = swa_utils.SWALR(opt, swa_lr=0.01, anneal_epochs=3)
    for epoch in range(20):
        for x, y in zip(xs, ys):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
        if epoch >= 12:
            swa_model.update_parameters(model)
            swa_sched.step()
        else:
            sched.step()
    swa_utils.update_bn(list(zip(xs, ys)), swa_model)
    assert swa_model.n_averaged.item() == 8 and opt.param_groups[0]["lr"] == pytest.approx(0.01)
    swa_model.eval()
    loss = float(sum(((swa_model(x) - y) ** 2).mean().item() for x, y in zip(xs, ys)) / 4)
    assert loss < 0.5


@pytest.mark.parametrize("name", sorted(CLASSES) + ["lbfgs"])
def test_steps_on_each_device_agree(device, name):
    # The tensor-op steps run wherever the parameters live: float32 on the device against the CPU.
    results = []
    for dev in ("cpu", device):
        r = np.random.default_rng(7)
        params = [ember.from_numpy(r.standard_normal(s).astype(np.float32)).to(dev).requires_grad_(True) for s in SHAPES]
        targets = [ember.from_numpy(r.standard_normal(s).astype(np.float32)).to(dev) for s in SHAPES]
        opt = optim.LBFGS(params, max_iter=3) if name == "lbfgs" else CLASSES[name][0](params, lr=0.05, weight_decay=0.01) if name != "rprop" else optim.Rprop(params, lr=0.05)

        def closure():
            opt.zero_grad()
            loss = sum(((p - t) ** 2 * (p * p + 1)).sum() for p, t in zip(params, targets))
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        results.append([A(p) for p in params])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
