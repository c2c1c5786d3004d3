"""The report on small synthetic run directories: its numbers against hand-computed ones, plots, summary."""

import csv
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from agents.reporting import build_report
from agents.reporting.aggregate import iqm_with_ci
from agents.run.logs import read_csv
from agents.run.summary import window_auc, window_means

# visits: 0 = breakout [0, 100), 1 = space_invaders [100, 200); episodes (step, return) per visit
EPISODES = {
    ("adam", 0): [[(10, 1.0), (55, 3.0)], [(150, 4.0), (160, 2.0)]],
    ("adam", 1): [[(20, 2.0)], [(130, 1.0), (190, 2.0)]],
    ("adamo", 0): [[(10, 2.0)], [(150, 6.0)]],
    ("adamo", 1): [[(30, 2.0)], [(120, 4.0), (180, 4.0)]],
    ("reset_all", 0): [[(10, 2.0)], [(150, 6.0)]],
    ("reset_all", 1): [[(30, 4.0)], [(140, 4.0)]],
}


def write_run(root: Path, method: str, seed: int, metric_value: float) -> Path:
    run = root / f"{method}_s{seed}"
    run.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"agent": {"name": "ppo"}, "env": {"name": "demo"}, "method": {"name": method},
                                     "seed": seed}), run / "config.yaml")
    with open(run / "tasks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerows([("task_visit", "task_id", "task_name", "task_cycle", "start_step"),
                     (0, 0, "breakout", 0, 0), (1, 1, "space_invaders", 0, 100)])
    with open(run / "episodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("step", "task_visit", "task_id", "task_name", "task_cycle", "return", "length"))
        for visit, eps in enumerate(EPISODES[(method, seed)]):
            for step, ret in eps:
                w.writerow((step, visit, visit, ("breakout", "space_invaders")[visit], 0, ret, 5))
        w.writerow((200, 1, 1, "space_invaders", 0, EPISODES[(method, seed)][1][-1][1], 5))  # run ends at 200
    with open(run / "plasticity.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("step", "task_visit", "task_name", "when", "metric", "value"))
        for step in (50, 100, 150):
            w.writerow((step, 0, "breakout", "periodic", "dormant_tau0.1", metric_value * step / 100))
    return run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("multirun")
    for (method, seed) in EPISODES:
        write_run(root, method, seed, {"adam": 0.3, "adamo": 0.1, "reset_all": 0.05}[method])
    out = root / "report"
    return root, out, build_report([root], out, bootstrap_reps=500)


def test_window_auc_is_the_mean_over_step_windows():
    assert window_auc([10, 55], [1.0, 3.0], 0, 100) == 2.0
    assert window_auc([10, 12, 55], [1.0, 3.0, 5.0], 0, 100) == 3.5  # (mean(1, 3) + 5) / 2
    assert window_auc([], [], 0, 100) is None


def test_window_means_are_the_learning_curve_of_equal_step_windows():
    means = window_means([10, 20, 55, 100, 100], [1.0, 3.0, 5.0, 7.0, 9.0], 0, 100, windows=5)
    assert means == [1.0, 3.0, 5.0, None, 8.0]  # [0, 20), [20, 40), …; an episode ending at the end counts last
    assert window_means([110, 150], [2.0, 4.0], 100, 200, windows=2) == [2.0, 4.0]  # windows start at ``start``


def test_visit_table_numbers_match_hand_computation(report):
    _, out, _ = report
    rows = {(r["method"], int(r["seed"]), int(r["visit"])): r for r in read_csv(out / "visits.csv")}
    adam0 = rows[("adam", 0, 0)]
    assert float(adam0["auc"]) == 2.0 and float(adam0["reference_auc"]) == 2.0
    assert float(adam0["plasticity_ratio"]) == 1.0 and float(adam0["final_return"]) == 3.0
    adam0_1 = rows[("adam", 0, 1)]  # windows: 150 → 4, 160 → 2, 200 → 2 (last window) ⇒ (4 + 2 + 2) / 3
    assert float(adam0_1["auc"]) == pytest.approx(8 / 3)
    assert float(adam0_1["reference_auc"]) == 6.0  # (6 + 6) / 2
    assert float(adam0_1["plasticity_ratio"]) == pytest.approx((8 / 3) / 6)
    assert float(rows[("adam", 1, 0)]["plasticity_ratio"]) == pytest.approx(0.5)  # matched by seed: 2 / 4
    assert float(rows[("reset_all", 1, 1)]["plasticity_ratio"]) == 1.0


def test_aggregate_is_the_rliable_iqm_of_runs_by_tasks_over_the_visits_after_a_switch(report):
    _, out, summary = report
    agg = {r["method"]: r for r in read_csv(out / "aggregate.csv") if r["cycle"] == "all"}
    visits = read_csv(out / "visits.csv")
    # visit 0 has no switch before it (every method is a fresh network there): only visit 1 counts
    matrix = np.array([[float(r["plasticity_ratio"]) for r in visits if r["method"] == "adam" and int(r["seed"]) == s
                        and int(r["visit"]) > 0] for s in (0, 1)])
    assert matrix.shape == (2, 1)
    assert float(agg["adam"]["iqm"]) == pytest.approx(matrix.mean())  # IQM of 2 values: their mean
    assert float(agg["adam"]["ci_low"]) <= float(agg["adam"]["iqm"]) <= float(agg["adam"]["ci_high"])
    assert agg["adam"]["score"] == "plasticity ratio" and agg["adam"]["visits"] == "visit 1"
    assert "| method | runs | IQM plasticity ratio, visit 1 | 95 % CI |" in summary.read_text()


def test_summary_names_the_best_method_and_plots_exist(report):
    _, out, summary = report
    text = summary.read_text()
    assert "**Best method on ppo/demo: `adamo`**" in text
    assert "| `adamo` **(best)** |" in text
    for name in ("returns_ppo_demo.png", "metrics_ppo_demo.png", "comparison_ppo_demo.png"):
        path = out / name
        assert path.stat().st_size > 10_000, name
        assert f"]({name})" in text


def test_without_a_reference_scores_are_normalized_returns(report, tmp_path):
    root, _, _ = report
    runs = [p for p in root.iterdir() if p.name.startswith("adam")]
    summary = build_report(runs, tmp_path / "r", bootstrap_reps=200)
    agg = read_csv(tmp_path / "r" / "aggregate.csv")
    assert {r["score"] for r in agg} == {"normalized return"}
    assert all(0.0 <= float(r["iqm"]) <= 1.0 for r in agg)
    assert "Best method" in summary.read_text()


def test_iqm_with_ci_on_known_scores():
    scores = {"m": np.array([[1.0, 2.0], [3.0, 100.0]])}
    est, lo, hi = iqm_with_ci(scores, reps=200)["m"]
    assert est == pytest.approx(2.5) and lo <= est <= hi


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no run directories"):
        build_report([tmp_path], tmp_path / "out")


def test_a_reference_no_run_has_and_a_bootstrap_below_1_are_one_line_errors(report, tmp_path):
    root = report[0]
    with pytest.raises(ValueError, match=r"^reference='reset_al': no run of that method; methods of these runs: "
                                         r"adam, adamo, reset_all$"):
        build_report([root], tmp_path / "a", reference="reset_al")
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match=rf"^bootstrap={bad}: must be an integer >= 1"):
            build_report([root], tmp_path / "b", bootstrap_reps=bad)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before writing
    # no reference runs and none named: normalized returns, as documented
    summary = build_report([root / "adam_s0", root / "adamo_s0"], tmp_path / "c", bootstrap_reps=20).read_text()
    assert "normalized" in summary


def _single_game_run(root: Path, agent: str, game: str, seed: int, returns: list[float]) -> Path:
    run = root / f"{agent}_{game}_s{seed}"
    run.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"agent": {"name": agent}, "env": {"name": game}, "method": {"name": "adam"},
                                     "seed": seed}), run / "config.yaml")
    (run / "tasks.csv").write_text(f"task_visit,task_id,task_name,task_cycle,start_step\n0,0,{game},0,0\n")
    (run / "episodes.csv").write_text("step,task_visit,task_id,task_name,task_cycle,return,length\n" + "".join(
        f"{10 * (i + 1)},0,0,{game},0,{r},10\n" for i, r in enumerate(returns)))
    (run / "status.json").write_text('{"status": "completed", "step": 5000}')
    return run


def test_sanity_table_averages_the_last_episodes_over_seeds_next_to_the_reference(tmp_path):
    from agents.reporting.runs import find_runs, load_run
    from agents.reporting.sanity import REFERENCES, markdown, sanity_rows
    _single_game_run(tmp_path, "dqn", "breakout", 0, [100.0] * 5 + [2.0] * 100)  # the first 5 fall out
    _single_game_run(tmp_path, "dqn", "breakout", 1, [4.0, 6.0])
    _single_game_run(tmp_path, "ppo", "seaquest", 0, [1.0])
    write_run(tmp_path / "curriculum", "adam", 0, 0.1)  # two tasks: not a single-game run
    rows = sanity_rows([load_run(p) for p in find_runs([tmp_path])])
    assert [(r.agent, r.game, r.seeds, r.steps) for r in rows] == [("dqn", "breakout", 2, 5000),
                                                                   ("ppo", "seaquest", 1, 5000)]
    assert rows[0].final_return == pytest.approx((2.0 + 5.0) / 2)
    assert rows[0].reference == REFERENCES["dqn"][2]["breakout"] and rows[1].reference is None
    text = "\n".join(markdown(rows))
    assert "| dqn | breakout | 2 | 5,000 | 3.50 | 10 | 5,000,000 |" in text and "| ppo | seaquest | 1 |" in text


def test_visit_table_averages_only_the_seeds_that_met_the_task(tmp_path):
    """Random task orders: visit 0 is breakout for seed 0 and space_invaders for seed 1; rows must not mix them."""
    write_run(tmp_path, "adam", 0, 0.1)
    swapped = write_run(tmp_path, "adam", 1, 0.1)
    for name in ("tasks.csv", "episodes.csv"):
        text = (swapped / name).read_text().replace("breakout", "TMP").replace("space_invaders", "breakout")
        (swapped / name).write_text(text.replace("TMP", "space_invaders"))
    summary = build_report([tmp_path], tmp_path / "r", bootstrap_reps=50).read_text()
    # adam seed 0, visit 0 (breakout): AUC 2.0; adam seed 1, visit 0 (space_invaders): AUC 2.0 from one episode of 2
    # at step 20 — so check the visit 1 rows, which differ: seed 0 space_invaders 8/3, seed 1 breakout (1 + 2) / 2
    assert "| 1 | space_invaders | 0 | 2.67 |" in summary
    assert "| 1 | breakout | 0 | 1.50 |" in summary


def test_sanity_rows_keep_budgets_apart(tmp_path):
    from agents.reporting.runs import find_runs, load_run
    from agents.reporting.sanity import sanity_rows
    _single_game_run(tmp_path, "ppo", "breakout", 0, [1.0])
    longer = _single_game_run(tmp_path / "long", "ppo", "breakout", 0, [5.0])
    (longer / "status.json").write_text('{"status": "completed", "step": 90000}')
    rows = sanity_rows([load_run(p) for p in find_runs([tmp_path])])
    assert [(r.steps, r.seeds, r.final_return) for r in rows] == [(5000, 1, 1.0), (90000, 1, 5.0)]


def _visit(i: int, task: str, start: int, steps: int):
    from agents.run.summary import VisitSummary
    return VisitSummary(i, task, i, start, steps, 0, None, None, None)


def _episodes(visit: int, task: str, steps, ret: float) -> list[dict[str, str]]:
    return [{"step": str(s), "task_visit": str(visit), "task_name": task, "return": str(ret)} for s in steps]


def test_learning_curve_bins_follow_the_visits_and_a_curve_breaks_at_each_switch():
    from agents.reporting.plots import _binned, _visit_edges, visit_segments
    from agents.reporting.runs import RunData

    # visit 0 is short (300k): equal-width bins over 1M steps would straddle the switch at 300k
    visits = [_visit(0, "freeway", 0, 300_000), _visit(1, "breakout", 300_000, 700_000)]
    # freeway: 64 synchronized envs end together every 160k env steps, return 0 (its last ones on the switch);
    # breakout: an episode every 1k, return 100
    episodes = _episodes(0, "freeway", [160_000, 300_000], 0) + _episodes(1, "breakout", range(301_000, 1_000_001,
                                                                                               1_000), 100)
    run = RunData(Path("r"), "ppo", "c", "adam", 0, visits, episodes)

    edges = _visit_edges(run, bins=10)
    assert [list(e) for e in edges] == [[0, 100_000, 200_000, 300_000], list(np.linspace(300_000, 1_000_000, 8))]
    means = _binned(run, [0, 1], edges)
    assert list(means[3:]) == [100.0] * 7  # the freeway episode ending on the switch is not in breakout's first bin
    assert np.isnan(means[0]) and list(means[1:3]) == [0.0, 0.0]
    owner = np.repeat([0, 1], [3, 7])
    x, y = visit_segments(np.concatenate([(e[:-1] + e[1:]) / 2 for e in edges]), [means], owner)
    gaps = np.flatnonzero(np.isnan(y))
    assert len(gaps) == 1 and np.all(x[:gaps[0]] < 300_000) and np.all(x[gaps[0] + 1:] > 300_000)
    assert list(y[:gaps[0]]) == [0.0, 0.0] and list(y[gaps[0] + 1:]) == [100.0] * 7


def test_learning_curves_align_seeds_by_task_visit_when_the_order_differs(tmp_path):
    from agents.reporting.plots import _same_task_order, learning_curves, task_visit_curve
    from agents.reporting.runs import RunData

    def run(seed: int, order: list[str], returns: dict[str, list[float]]) -> RunData:
        visits, episodes, seen = [], [], dict.fromkeys(order, 0)
        for i, task in enumerate(order):
            visits.append(_visit(i, task, i * 1000, 1000))
            episodes += _episodes(i, task, range(i * 1000 + 100, (i + 1) * 1000 + 1, 100), returns[task][seen[task]])
            seen[task] += 1
        return RunData(Path(f"r{seed}"), "ppo", "c", "adam", seed, visits, episodes)

    a = run(0, ["asterix", "freeway", "freeway", "asterix"], {"asterix": [1, 2], "freeway": [10, 20]})
    b = run(1, ["freeway", "asterix", "asterix", "freeway"], {"asterix": [3, 4], "freeway": [30, 40]})
    assert not _same_task_order([a, b]) and _same_task_order([a, run(2, ["asterix", "freeway"], {
        "asterix": [0], "freeway": [0]})])
    assert task_visit_curve(a, "freeway", 2, bins=5).tolist() == [[10.0] * 5, [20.0] * 5]
    assert task_visit_curve(b, "asterix", 3, bins=5)[:2].tolist() == [[3.0] * 5, [4.0] * 5]
    assert np.isnan(task_visit_curve(b, "asterix", 3, bins=5)[2]).all()  # not reached
    learning_curves([a, b], tmp_path / "per_task.png")
    learning_curves([a], tmp_path / "timeline.png")
    assert (tmp_path / "per_task.png").stat().st_size > 0 and (tmp_path / "timeline.png").stat().st_size > 0


def test_summary_says_when_there_is_no_reference_and_which_runs_are_unfinished(tmp_path):
    import json
    done = write_run(tmp_path, "adam", 0, 0.3)
    (done / "status.json").write_text(json.dumps({"status": "completed"}))
    going = write_run(tmp_path, "adamo", 1, 0.1)
    (going / "status.json").write_text(json.dumps({"status": "running"}))
    summary = build_report([tmp_path], tmp_path / "r", bootstrap_reps=20).read_text()
    assert "2 runs; no `method=reset_all` runs (the fresh-agent reference), so there are no plasticity ratios" \
        in summary
    assert "Not finished (1 of 2 runs; their visits so far are included, the last one partial): `adamo` seed 1 " \
           "(running, 2 visits)." in summary
    (going / "status.json").write_text(json.dumps({"status": "completed"}))
    assert "Not finished" not in build_report([tmp_path], tmp_path / "r", bootstrap_reps=20).read_text()


def test_runs_of_other_settings_or_the_same_seed_twice_are_refused_or_labelled(tmp_path):
    """Round three (issue 33): the report pooled them without a word; summary.md and aggregate.csv then disagreed."""
    root = tmp_path / "runs"
    for method, seed in (("adam", 0), ("adamo", 0)):
        write_run(root, method, seed, 0.1)
    other = write_run(tmp_path / "elsewhere", "adam", 1, 0.1)
    cfg = OmegaConf.load(other / "config.yaml")
    cfg.env.steps_per_task = 999  # another experiment of the same curriculum
    OmegaConf.save(cfg, other / "config.yaml")
    with pytest.raises(ValueError, match=r"are runs of ppo/demo with different settings \(differ in: "
                                         r"env\.steps_per_task\); report them separately, or pass --mixed"):
        build_report([root, other], tmp_path / "rep")
    build_report([root, other], tmp_path / "rep", bootstrap_reps=50, mixed=True)
    with open(tmp_path / "rep" / "visits.csv") as f:
        curricula = {row["curriculum"] for row in csv.DictReader(f)}
    assert curricula == {"ppo/demo #1", "ppo/demo #2"}
    twice = write_run(tmp_path / "again", "adamo", 0, 0.1)
    with pytest.raises(ValueError, match=r"are both adamo seed 0 of ppo/demo: the same run twice"):
        build_report([root, twice], tmp_path / "rep2")
