"""The plasticity benchmark's qualitative claims, at fixed seeds (plasticity/continual/suite.py).

Margins come from the measured runs in docs/plasticity_benchmark.md (seed 0 here; seeds 0–1 there): Adam's late
accuracy on random labels is ≈ 0.2 of its early accuracy, while AdamO and CBP end at or above their early accuracy;
on the regression stream Adam's error grows and AdamO's and CBP's do not (median over three seeds).
"""

import pytest
import torch

from plasticity.continual import early_late, run_setting
from plasticity.continual.tasks import SlowlyChangingRegression

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32)
    return (x - x.mean(0)) / (x.std(0) + 1e-6), torch.tensor(data.target)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_random_labels_adam_loses_plasticity_adamo_and_cbp_keep_it(digits):
    early, late = early_late(run_setting("random_labels", "adam", 0, digits))
    assert late < 0.5 * early, (early, late)  # measured ≈ 0.79 → 0.18
    for method in ("adamo", "cbp"):
        early, late = early_late(run_setting("random_labels", method, 0, digits))
        assert late > early - 0.1 and late > 0.7, (method, early, late)  # measured ≈ 0.83 → 0.94 and 0.81 → 0.84


@pytest.mark.benchmark  # 9 runs of 20k steps: ≈ 4 min of one core, so `make test-benchmarks`, not the default run
def test_slowly_changing_regression_adamo_and_cbp_hold_their_error_where_adam_loses_ground():
    """Median late/early error ratio over seeds 0–2. One seed's trajectory is chaotic across CPUs (AdamO, seed 0:
    0.73 → 0.71 on the machine of docs/plasticity_benchmark.md, 0.73 → 0.89 on an Intel Xeon, bit-exact runs on
    each), so the claim is made on the median: measured Adam 1.10 (1.60, 0.78, 1.10), AdamO 0.97 (1.21, 0.97,
    0.92), CBP 0.73 (0.75, 0.73, 0.68)."""
    ratios = {}
    for method in ("adam", "adamo", "cbp"):
        per_seed = [late / early for early, late in
                    (early_late(run_setting("slowly_changing_regression", method, seed)) for seed in (0, 1, 2))]
        ratios[method] = sorted(per_seed)[1]
    assert ratios["adam"] > 1.0, ratios  # Adam's error grows
    assert ratios["adamo"] < 1.0 and ratios["adamo"] < ratios["adam"], ratios
    assert ratios["cbp"] < 0.9, ratios


def test_slowly_changing_regression_flips_one_slow_bit_per_task_and_targets_are_the_ltu_network():
    stream = SlowlyChangingRegression(bits=20, slow_bits=15, hidden=100, seed=3)
    first = next(stream.task(0, 1, 8))[0]
    second = next(stream.task(1, 1, 8))[0]
    assert int((first[0, :15] != second[0, :15]).sum()) == 1  # exactly one slow bit flipped
    assert torch.all(first[:, :15] == first[0, :15]) and torch.all(first[:, -1] == 1)  # slow bits shared, bias 1
    x = second
    h = (x @ stream.w.T > stream.theta).float()
    assert torch.allclose(stream.target(x), (h * stream.v).sum(1, keepdim=True))
    assert set(stream.w.unique().tolist()) == {-1.0, 1.0}
