"""plasticity.metrics against closed forms on constructed inputs and against numpy on random ones."""

import numpy as np
import pytest
import torch
from torch import nn

import plasticity.metrics as M
from plasticity.metrics import spectra


def test_ranks_of_identity_features_and_known_spectra():
    eye = torch.eye(8, dtype=torch.float64)
    sv = M.singular_values(eye)
    assert M.effective_rank(sv) == pytest.approx(8.0)
    assert M.srank(sv) == 8 and M.approximate_rank(sv) == 8 and M.stable_rank(sv) == pytest.approx(8.0)
    sv = torch.tensor([4.0, 3.0, 2.0, 1.0])  # Σσ = 10, Σσ² = 30
    assert M.srank(sv, delta=0.01) == 4 and M.srank(sv, delta=0.35) == 2  # 7/10 ≥ 0.65
    assert M.approximate_rank(sv, fraction=0.8) == 2  # (16 + 9)/30 = 0.83
    assert M.stable_rank(sv) == pytest.approx(30 / 16)
    p = sv / 10
    assert M.effective_rank(sv) == pytest.approx(float(np.exp(-(p * p.log()).sum())))
    assert M.effective_rank(torch.tensor([5.0, 0.0, 0.0])) == pytest.approx(1.0)  # 0·log 0 = 0


def test_ranks_agree_with_numpy_on_random_features():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((50, 12)) @ np.diag(np.linspace(3, 0.01, 12))
    s = np.linalg.svd(h, compute_uv=False)
    sv = M.singular_values(torch.as_tensor(h))
    np.testing.assert_allclose(sv.numpy(), s, rtol=1e-10)
    p = s / s.sum()
    assert M.effective_rank(sv) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert M.srank(sv) == int(np.argmax(np.cumsum(s) / s.sum() >= 0.99)) + 1
    assert M.approximate_rank(sv) == int(np.argmax(np.cumsum(s**2) / (s**2).sum() >= 0.99)) + 1
    assert M.stable_rank(sv) == pytest.approx((s**2).sum() / s[0] ** 2)


def test_unit_statistics_on_constructed_activations():
    h = torch.tensor([[[1.0], [0.0], [0.01], [2.0]],
                      [[3.0], [0.0], [0.01], [0.0]]])  # (N=2, units=4, positions=1)
    # unit means |h|: 2, 0, 0.01, 1 → layer mean 0.7525; scores 2.66, 0, 0.0133, 1.33
    assert M.dormant_ratio(h, 0.0) == 0.25 and M.dormant_ratio(h, 0.025) == 0.5 and M.dormant_ratio(h, 0.1) == 0.5
    assert M.fraction_active(h) == pytest.approx(5 / 8)
    assert M.dead_fraction(h) == 0.25
    assert M.feature_norm(h) == pytest.approx((np.sqrt(1 + 0.0001 + 4) + np.sqrt(9 + 0.0001)) / 2)


def test_weight_statistics_against_numpy():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 4, 3, 3))
    s = np.linalg.svd(w.reshape(6, -1), compute_uv=False)
    spec = M.weight_spectrum(torch.as_tensor(w))
    assert spec["sigma_max"] == pytest.approx(s[0]) and spec["sigma_min"] == pytest.approx(s[-1])
    assert spec["condition"] == pytest.approx(s[0] / s[-1])
    wm = w.reshape(6, -1)
    assert spec["gram_deviation"] == pytest.approx(np.linalg.norm(wm @ wm.T - np.eye(6)))
    q = torch.linalg.qr(torch.randn(9, 5, dtype=torch.float64)).Q
    assert M.weight_spectrum(q)["gram_deviation"] < 1e-12
    a, b = [torch.ones(3), torch.zeros(2, 2)], [torch.zeros(3), torch.ones(2, 2) * 2]
    assert M.weight_magnitude(a) == pytest.approx(3 / 7)
    assert M.distance_from_init(a, b) == pytest.approx(np.sqrt((3 + 16) / 7))
    assert M.update_size(b, a) == {"update_l1": 11.0, "update_rms": pytest.approx(np.sqrt(19 / 7))}
    g = M.gradient_norms([torch.tensor([3.0, 0.0, -4.0]), None])
    assert g == {"grad_l2": 5.0, "grad_l1": 7.0, "grad_l0": pytest.approx(2 / 3)}


def test_layer_jacobian_singular_values():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 8))
    h = np.abs(rng.standard_normal((3, 5, 1)))
    h[0, 1, 0] = h[2, 4, 0] = 0.0  # inactive units zero a row of D·W
    sv = M.layer_jacobian_singular_values(torch.as_tensor(w), torch.as_tensor(h)).numpy()
    expected = np.concatenate([np.linalg.svd((h[n, :, 0] > 0)[:, None] * w, compute_uv=False) for n in range(3)])
    np.testing.assert_allclose(np.sort(sv), np.sort(expected), atol=1e-7)
    q = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64)).Q
    active = torch.ones(4, 8, 1)
    assert M.isometry_gap(M.layer_jacobian_singular_values(q, active)) < 1e-7  # orthogonal, all active → 0
    half = M.layer_jacobian_singular_values(q, torch.cat([torch.ones(4, 4, 1), torch.zeros(4, 4, 1)], 1))
    assert M.isometry_gap(half) == pytest.approx(np.sqrt(0.5))  # half the singular values are 0


def test_end_to_end_jacobian_of_a_linear_map():
    w = torch.randn(3, 6, dtype=torch.float64)
    sv = M.input_output_singular_values(lambda x: x.double() @ w.T, torch.randn(2, 6))
    np.testing.assert_allclose(np.sort(sv.numpy()), np.sort(np.tile(np.linalg.svd(w.numpy(), compute_uv=False), 2)))


def linear(k=3, d=5):
    torch.manual_seed(0)
    return nn.Linear(d, k, bias=False).double()


def test_entk_of_a_linear_model_is_gram_kron_identity():
    model, x = linear(), torch.randn(4, 5, dtype=torch.float64)
    ev = M.entk_spectrum(model, x).numpy()
    expected = np.repeat(np.linalg.eigvalsh((x @ x.T).numpy()), 3)  # K = (X Xᵀ) ⊗ I_k
    np.testing.assert_allclose(np.sort(ev), np.sort(expected), atol=1e-9)


def test_empirical_fisher_against_per_example_gradients():
    model, x = linear(), torch.randn(6, 5, dtype=torch.float64)
    y = torch.randn(6, 3, dtype=torch.float64)
    ev = M.fisher_spectrum(model, x, y).numpy()
    with torch.no_grad():
        r = (model(x) - y).numpy()
    g = np.stack([np.outer(r[n], x[n].numpy()).ravel() for n in range(6)])  # ∂ℓ_n/∂W = r_n x_nᵀ
    np.testing.assert_allclose(np.sort(ev), np.sort(np.linalg.eigvalsh(g @ g.T) / 6), atol=1e-10)


def test_hessian_spectrum_is_exact_with_enough_lanczos_steps():
    model = linear(k=1, d=6)
    x = torch.randn(20, 6, dtype=torch.float64) * torch.linspace(0.2, 3.0, 6, dtype=torch.float64)
    y = torch.randn(20, 1, dtype=torch.float64)
    values, weights = M.hessian_spectrum(model, x, y, ["weight"], iterations=50)
    exact = np.linalg.eigvalsh((x.T @ x).numpy() / 20)  # Hessian of mean ½(wᵀx − y)² w.r.t. w
    np.testing.assert_allclose(np.sort(values.numpy()), exact, atol=1e-8)
    assert weights.sum() == pytest.approx(1.0)
    ev = torch.as_tensor(exact)
    for delta in (0.01, 0.2, 0.5):
        assert spectra.density_srank(values, weights, 6, delta=delta) == M.srank(ev, delta=delta)


def test_churn_and_policy_churn():
    before = torch.tensor([[1.0, 0.0, 5.0], [0.0, 2.0, 5.0]])
    after = torch.tensor([[0.0, 1.0, 5.0], [0.0, 3.0, 7.0]])
    out = M.churn(before, after, actions=slice(0, 2))  # the third column is a value, not an action
    assert out == {"churn": pytest.approx((2 + 5) / 2), "policy_churn": 0.5}


def test_trainability_separates_a_live_network_from_a_dead_one():
    torch.manual_seed(3)
    live = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    dead = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    with torch.no_grad():
        dead[0].bias.fill_(-100.0)  # every ReLU silent: only the output bias can move
    x = torch.randn(64, 6)
    live_before = [p.clone() for p in live.parameters()]
    a = M.trainability(live, x, steps=200, lr=1e-2)
    b = M.trainability(dead, x, steps=200, lr=1e-2)
    assert a["trainability_ratio"] < 0.6 < b["trainability_ratio"]
    assert all(torch.equal(p, q) for p, q in zip(live.parameters(), live_before, strict=True))  # a copy trains


CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_the_suite_on_a_conv_net_and_identity_features(device):
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.ReLU(),
                        nn.Linear(8, 3)).to(device)
    suite = M.MetricSuite(net, ntk_samples=4, fisher_samples=8, hessian_iterations=10, trainability_steps=5)
    x = torch.randn(16, 2, 6, 6, device=device)
    values = suite.compute(x, expensive=True)
    for key in ("dormant_tau0", "dormant_tau0.025", "dormant_tau0.1", "fau", "feature_erank", "feature_srank",
                "weight_magnitude", "distance_from_init", "gram_deviation", "isometry_gap", "entk_condition",
                "entk_erank", "fisher_srank", "hessian_srank", "trainability_ratio", "io_jacobian_gap",
                "sigma_max/5", "isometry_gap/0", "dormant_tau0.1/3"):
        assert key in values and np.isfinite(values[key]), key
    assert values["distance_from_init"] == 0.0
    acts = suite.activations(x)
    with torch.no_grad():
        expected = torch.relu(net[3](torch.relu(net[0](x)).flatten(1)))
    assert torch.equal(acts["3"].squeeze(-1), expected)
    ident = nn.Sequential(nn.Linear(5, 5, bias=False), nn.ReLU(), nn.Linear(5, 1))
    with torch.no_grad():
        ident[0].weight.copy_(torch.eye(5))
    out = M.MetricSuite(ident).compute(torch.eye(5))  # features = I₅
    assert out["feature_erank"] == pytest.approx(5.0) and out["feature_srank"] == 5
    assert out["isometry_gap"] == pytest.approx(np.sqrt(4 / 5))  # each sample: one unit active of five
