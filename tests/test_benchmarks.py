"""The benchmark scripts: paired statistics, the generated performance table, a dry run, and the step profile."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_grade  # noqa: E402
import report  # noqa: E402


def _run(side, seed, wall, ips, acc=99.0):
    return {"side": side, "seed": seed, "pipeline": "x", "wall_seconds": wall, "images_per_second": ips,
            "seconds_per_epoch": wall, "peak_memory_mb": 100.0, "final_acc": acc, "best_acc": acc}


def _seed(seed, a_walls, b_walls, a_acc=99.0, b_acc=99.0):
    """One seed's a b b a runs; images/s is 6000/wall so both measures move together."""
    (a1, a2), (b1, b2) = a_walls, b_walls
    return [_run("a", seed, a1, 6000 / a1, a_acc), _run("b", seed, b1, 6000 / b1, b_acc),
            _run("b", seed, b2, 6000 / b2, b_acc), _run("a", seed, a2, 6000 / a2, a_acc)]


def test_runs_go_a_b_b_a_for_each_seed():
    assert bench_grade.order(2) == [(0, "a", 1), (0, "b", 1), (0, "b", 2), (0, "a", 2),
                                    (1, "a", 1), (1, "b", 1), (1, "b", 2), (1, "a", 2)]


def test_only_runs_one_side_once_a_seed_and_summarises_it_without_a_ratio():
    assert bench_grade.order(3, only="b") == [(0, "b", 1), (1, "b", 1), (2, "b", 1)]
    summary = bench_grade.summarise([_run("b", s, 20.0, 3000.0, 99.5) for s in range(3)])
    assert summary["a"] == {} and summary["pairs"] == [] and summary["b"]["runs"] == 3
    assert bench_grade.format_summary(summary) == "no seed ran both sides: no ratio"


def test_a_seeds_ratio_sums_each_sides_repeats_and_flags_a_repeat_more_than_20_percent_apart():
    a = [_run("a", 0, 100.0, 600.0), _run("a", 0, 110.0, 550.0)]
    b = [_run("b", 0, 50.0, 1200.0), _run("b", 0, 55.0, 1100.0)]
    pair = bench_grade.pair_of(a, b, seed=0)
    assert pair["speedup_wall"] == pytest.approx(210 / 105)  # = 2.0: (a1 + a2) / (b1 + b2)
    assert pair["speedup_images_per_second"] == pytest.approx(2300 / 1150)
    assert pair["repeat_apart"] == pytest.approx(0.10) and not pair["disturbed"]  # 110/100 and 55/50: 10 %
    slow = [_run("a", 0, 100.0, 600.0), _run("a", 0, 125.0, 480.0)]  # the second a run is 25 % slower
    disturbed = bench_grade.pair_of(slow, b, seed=0)
    assert disturbed["repeat_apart"] == pytest.approx(0.25) and disturbed["disturbed"]


def test_the_figure_is_the_median_of_per_seed_ratios_without_the_disturbed_seed():
    runs = (_seed(0, (120, 120), (100, 100)) + _seed(1, (150, 150), (100, 100))  # 1.2x, 1.5x
            + _seed(2, (160, 160), (100, 100)) + _seed(3, (200, 200), (100, 100))  # 1.6x, 2.0x
            + _seed(4, (100, 400), (20, 20), a_acc=98.0, b_acc=98.4))  # 12.5x, but a's repeat is 4x slower
    s = bench_grade.summarise(runs)
    assert [p["disturbed"] for p in s["pairs"]] == [False, False, False, False, True]
    assert (s["pairs_used"], s["pairs_flagged"], s["all_disturbed"]) == (4, 1, False)
    wall = s["speedup_wall"]
    # Median of 1.2, 1.5, 1.6, 2.0 is 1.55; inclusive quartiles sit at positions 0.75 and 2.25 of the sorted list:
    # q1 = 1.2 + 0.75 * (1.5 - 1.2) = 1.425, q3 = 1.6 + 0.25 * (2.0 - 1.6) = 1.7.
    assert wall["median"] == pytest.approx(1.55) and (wall["min"], wall["max"]) == (pytest.approx(1.2), 2.0)
    assert (wall["q1"], wall["q3"]) == (pytest.approx(1.425), pytest.approx(1.7)) and wall["n"] == 4
    assert s["speedup_images_per_second"]["median"] == pytest.approx(1.55)
    # The ratio of means over the undisturbed seeds would be 630 / 400 = 1.575: not what is reported.
    assert s["final_acc_difference"] == pytest.approx(0.4 / 5)  # accuracy counts every seed
    text = bench_grade.format_summary(s)
    assert "1.55x (1.20..2.00, IQR 1.43..1.70) wall time" in text
    assert "median of 4 paired seed(s); 1 of 5 flagged disturbed" in text and "+0.080 %" in text


def test_fewer_than_four_seeds_give_no_iqr_and_all_disturbed_is_said():
    s = bench_grade.summarise(_seed(0, (100, 100), (50, 50)) + _seed(1, (90, 90), (60, 60)))
    assert s["speedup_wall"]["median"] == pytest.approx((2.0 + 1.5) / 2) and "q1" not in s["speedup_wall"]
    assert bench_grade.format_spread(s["speedup_wall"]) == "1.75x (1.50..2.00)"
    shaken = bench_grade.summarise(_seed(0, (100, 130), (50, 50)) + _seed(1, (90, 90), (60, 80)))
    assert shaken["all_disturbed"] and shaken["pairs_used"] == 2 and shaken["pairs_flagged"] == 2
    assert "all 2 seeds were disturbed" in bench_grade.format_summary(shaken)


def test_sides_parse_from_pipeline_and_flags():
    side = bench_grade.parse_side("grader+compile:reduce-overhead+fast_dropout+threads:1")
    assert (side.compile, side.fast_dropout, side.threads, side.channels_last) == ("reduce-overhead", True, 1, False)
    assert side.label == "grader+compile:reduce-overhead+fast_dropout+threads:1"
    assert bench_grade.parse_side("grader+fast_dropout:off").label == "grader"
    assert bench_grade.parse_side("grader").flags == "eager"
    assert bench_grade.parse_side("grader+cuda_graph:off").cuda_graph is False
    assert bench_grade.parse_side("grader+cuda_graph:off").label == "grader+cuda_graph:off"
    assert bench_grade.loop_label("default", True) == "compile+channels_last"
    for bad in ("grader+turbo", "torchvision", "reference+fast_dropout", "grader+threads:0"):
        with pytest.raises(ValueError):
            bench_grade.parse_side(bad)


def _paired_file(summary, **args):
    return {"environment": {"device_name": "CPU (x86_64, 2 threads)", "cpu_model": "AMD EPYC",
                            "date": "2026-11-27T10:00:00Z", "torch": "2.14.1"},
            "args": {"method": "paired", "epochs": 1, "seeds": 5, "a": "reference", "b": "grader+fast_dropout",
                     "command": "python benchmarks/bench_grade.py --epochs 1 --seeds 5", **args},
            "summary": summary}


def test_the_performance_row_shows_the_median_its_spread_and_what_it_rests_on():
    runs = (_seed(0, (120, 120), (100, 100)) + _seed(1, (150, 150), (100, 100)) + _seed(2, (160, 160), (100, 100))
            + _seed(3, (200, 200), (100, 100)) + _seed(4, (100, 400), (20, 20)))
    cells = [c.strip() for c in report._row(_paired_file(bench_grade.summarise(runs))).strip("|").split("|")]
    assert len(cells) == len(report.COLUMNS)
    row = dict(zip(report.COLUMNS, cells))
    assert row["speed-up, wall"] == "**1.55x** (1.20–2.00; IQR 1.43–1.70)"
    assert row["seeds used / flagged"] == "4 of 5 / 1" and row["a → b"] == "reference → grader+fast_dropout"
    assert row["command"] == "`python benchmarks/bench_grade.py --epochs 1 --seeds 5`"


def test_results_from_before_the_paired_method_stay_readable_under_their_own_note(tmp_path, monkeypatch):
    legacy = {"environment": {"device_name": "CPU (x86_64, 2 threads)", "date": "2026-11-23T21:52:40Z",
                              "torch": "2.14.1"},
              "args": {"epochs": 2, "seeds": 3, "workers": 2, "loop": "eager"},
              "summary": {"reference": {"wall_seconds": 74.4}, "grader": {"wall_seconds": 60.8}, "ratio_wall": 1.22}}
    (tmp_path / "old.json").write_text(json.dumps(legacy))
    (tmp_path / "new.json").write_text(json.dumps(_paired_file(bench_grade.summarise(_seed(0, (100, 100), (50, 50))))))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    text = report.render()
    paired, _, before = text.partition("## Before the paired method")
    assert "**2.00x** (2.00–2.00)" in paired and "1.22x" in before and "ratio of means" in before


def test_parity_files_become_a_table_read_against_the_pooled_seed_noise(tmp_path, monkeypatch):
    import parity

    folder = tmp_path / "cpu-x-parity"
    folder.mkdir()
    sides = {"eager": (99.40, 99.50, 99.45), "fast": (99.50, 99.60, 99.55), "cl": (99.45, 99.45, 99.45)}
    for side, finals in sides.items():
        for seed, final in enumerate(finals):
            (folder / f"{side}_seed{seed}.json").write_text(json.dumps(_result(final)))
    assert parity.main([str(folder), "--candidate", "fast"]) == 0
    assert parity.main([str(folder), "--candidate", "cl", "--out", str(folder / "parity-cl.json")]) == 0
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    text = report.render().partition("## Accuracy parity")[2]
    assert "| cpu-x-parity/parity.json | eager | fast | 0, 1, 2 | 99.40, 99.50, 99.45 / 99.50, 99.60, 99.55 | " \
           "99.450 / 99.550 | +0.100 | no |" in text
    assert "| cpu-x-parity/parity-cl.json | eager | cl |" in text and "| +0.000 | yes |" in text
    # eager's finals counted once though both files hold them: variances 0.0025, 0.0025, 0 over 6 degrees of freedom
    assert "standard deviation of 0.041 points" in text and "pooled over the 3 sides" in text
    assert "two 3-seed means has a standard error of about 0.033 points" in text


def test_docs_performance_md_is_what_the_results_files_generate():
    assert report.OUT.read_text() == report.render(), "stale: run python benchmarks/report.py"


@pytest.mark.slow  # the slow tier (pyproject.toml): profiles real training steps
def test_the_step_profile_names_the_phases():
    from profile_step import profile

    text = profile("cpu", steps=2, warmup=1, compile=None, rows=5, fast_dropout=True)
    assert "phase shares: augment" in text and "forward" in text and "aten::" in text and "fast_dropout" in text


def test_the_gpu_session_summary_is_what_its_files_say(tmp_path):
    """benchmarks/results/gpu-*.json (quoted by the README and docs/performance.md) is gpu_summary.py's reading of
    the folder beside it: the logs and RESULT documents the device session brought back."""
    import gpu_summary

    results = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
    folders = [p for p in results.glob("gpu-*") if p.is_dir()]
    assert folders
    for folder in folders:
        committed = json.loads(folder.with_suffix(".json").read_text())
        assert gpu_summary.summarise(folder, committed["machine"]) == committed
        assert f"| {committed['machine']} | {folder.name} |" in report.render()


def test_a_bench_log_line_reads_back():
    import gpu_summary

    line = ("  seed 3 a2 reference                  13204 img/s    4.54 s/epoch  wall   91.3 s  peak   186 MB  "
            "final 99.34%")
    (m,) = [gpu_summary.RUN_LINE.search(line)]
    assert (m["seed"], m["side"], m["repeat"], m["label"], m["spe"], m["wall"], m["final"]) == (
        "3", "a", "2", "reference", "4.54", "91.3", "99.34")


def _result(final, epochs=20):
    return {"final_acc": final, "epochs": [{"epoch": e + 1} for e in range(epochs)]}


def test_parity_compares_mean_finals_over_the_seeds_both_sides_ran(tmp_path):
    import parity

    for seed, (ref, cand) in enumerate(((99.40, 99.50), (99.50, 99.50), (99.45, 99.50))):
        (tmp_path / f"eager_seed{seed}.json").write_text(json.dumps(_result(ref)))
        (tmp_path / f"fast_seed{seed}.json").write_text(json.dumps(_result(cand)))
    (tmp_path / "fast_seed7.json").write_text(json.dumps(_result(10.0)))  # no reference run: left out
    assert parity.main([str(tmp_path), "--candidate", "fast"]) == 0
    doc = json.loads((tmp_path / "parity.json").read_text())
    assert doc["seeds"] == [0, 1, 2] and doc["epochs"] == 20 and "candidate_dir" not in doc
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert parity.main([str(tmp_path), "--candidate", "fast", "--out", str(other / "parity-fast.json")]) == 0
    moved = json.loads((other / "parity-fast.json").read_text())  # it names the folders its sides came from
    assert Path(parity.ROOT / moved["candidate_dir"]).resolve() == tmp_path.resolve() == \
        Path(parity.ROOT / moved["reference_dir"]).resolve() and moved["difference"] == doc["difference"]
    assert doc["difference"] == pytest.approx(0.05) and doc["within"]  # the tolerance itself still passes
    off = parity.parity({0: _result(99.40)}, {0: _result(99.46)})
    assert off["difference"] == pytest.approx(0.06) and not off["within"]
    assert parity.parity({0: _result(99.46)}, {0: _result(99.40)})["within"] is False  # below counts too
    with pytest.raises(ValueError, match="no seed"):
        parity.parity({0: _result(99.4)}, {1: _result(99.4)})


def test_committed_parity_summaries_match_their_runs():
    import parity

    docs = sorted(Path(bench_grade.RESULTS).glob("*parity*/parity*.json"))
    assert docs  # fast_dropout's at least
    for doc_path in docs:
        doc = json.loads(doc_path.read_text())
        reference_dir = parity.ROOT / doc["reference_dir"] if "reference_dir" in doc else doc_path.parent
        candidate_dir = parity.ROOT / doc["candidate_dir"] if "candidate_dir" in doc else doc_path.parent
        fresh = parity.parity(parity.read_side(reference_dir, doc["reference"]),
                              parity.read_side(candidate_dir, doc["candidate"]))
        assert {k: doc[k] for k in fresh} == json.loads(json.dumps(fresh)), doc_path
