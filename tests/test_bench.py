"""The benchmarks' arithmetic (hand-computed): the paired ratio (per-round time ratios of systems
run back to back, so a load change between rounds cancels) and the time-to-a-return crossings."""
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from _time_to import crossings, summary
from bench_vs_jaxmarl import paired_ratio  # experiments/ is on pytest's pythonpath


def test_paired_ratio_is_the_median_of_same_round_ratios():
    # Round 1 ran while the host was quiet for the reference only: the ratio of minima
    # (100 / 150) says the system is slower, while in two of three rounds it took half as long.
    ref, sys_ = [100.0, 300.0, 300.0], [200.0, 150.0, 150.0]
    assert min(ref) / min(sys_) == 100.0 / 150.0
    assert paired_ratio(ref, sys_) == 2.0
    assert paired_ratio([10.0, 20.0], [10.0, 40.0]) == 0.75  # even count: mean of 1.0 and 0.5


def test_time_to_takes_each_seeds_first_window_at_the_threshold():
    # 4 windows of 1000 env steps over 10 s of training after 2 s of compiling; 3 seeds.
    res = {"curves": [[0, 50, 10], [120, 210, 20], [90, 180, 30], [200, 250, 40]],
           "env_steps_per_window": 1000, "compile_s": 2.0, "run_s": 10.0}
    hits = crossings(res, 200.0)
    assert hits == [{"env_steps": 4000, "wall_s": 12.0}, {"env_steps": 2000, "wall_s": 7.0},
                    None]  # seed 1 dips below again later: its first crossing counts
    s = summary(hits)
    assert (s["reached"], s["seeds"]) == (2, 3)
    # the seed that never got there counts as infinitely late: median of (7, 12, inf)
    assert s["wall_s"] == {"median": 12.0, "min": 7.0, "max": math.inf}
    assert summary([None, None, {"env_steps": 1, "wall_s": 1.0}])["wall_s"]["median"] == math.inf


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state


def test_background_load_ends_when_the_benchmark_is_killed():
    """A benchmark killed mid-measurement must not leave its busy processes behind (they would
    slow down everything measured after it)."""
    code = ("import time\n"
            "from _load import BackgroundLoad\n"
            "with BackgroundLoad(1) as load:\n"
            "    print(load.procs[0].pid, flush=True)\n"
            "    time.sleep(60)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent / "experiments"))
    bench = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env=env)
    assert bench.stdout is not None
    pid = int(bench.stdout.readline())
    assert _running(pid)
    bench.kill()  # no __exit__: the load has to notice by itself
    bench.wait()
    deadline = time.time() + 10
    while _running(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _running(pid)



def test_suite_timing_counts_nested_and_overlapping_intervals_once():
    from _suite_timing import union_seconds

    # an outer trace [0, 10] with two jits traced inside it, then a separate one [12, 13]
    assert union_seconds([(0.0, 10.0), (2.0, 3.0), (4.0, 6.0), (12.0, 13.0)]) == 11.0
    assert union_seconds([(0.0, 2.0), (1.0, 3.0)]) == 3.0  # overlapping: 0..3
    assert union_seconds([]) == 0.0


def test_suite_benchmark_reads_durations_and_counts():
    from bench_suite import parse

    text = ("....F\n"
            "============ slowest durations ============\n"
            "12.50s call     suite/test_a.py::test_x[1]\n"
            "2.00s setup    suite/test_a.py::test_x[1]\n"
            "0.30s call     suite/test_b.py::test_y\n"
            "FAILED suite/test_b.py::test_z - AssertionError\n"
            "1 failed, 4 passed, 2 skipped in 61.20s (0:01:01)\n")
    r = parse(text)
    assert r["tests"] == {"suite/test_a.py::test_x[1]": 14.5, "suite/test_b.py::test_y": 0.3}
    assert r["counts"] == {"failed": 1, "passed": 4, "skipped": 2}


def test_suite_benchmark_sums_tests_and_compile_stages_per_file():
    from bench_suite import per_file

    tests = {"t/test_a.py::x": 3.0, "t/test_a.py::y[1]": 1.0, "t/test_b.py::z": 5.0}
    stages = [{"t/test_a.py": {"trace": 1.0, "xla": 2.0, "xla_compilations": 3}, "": {"xla": 9}},
              {"t/test_a.py": {"trace": 0.5, "xla": 0.0, "xla_compilations": 1}}]
    rows = per_file(tests, stages)
    assert [r["file"] for r in rows] == ["t/test_b.py", "t/test_a.py"]  # heaviest first
    assert rows[1] == {"file": "t/test_a.py", "tests": 2, "seconds": 4.0, "trace": 1.5,
                       "xla": 2.0, "xla_compilations": 4}
    assert rows[0] == {"file": "t/test_b.py", "tests": 1, "seconds": 5.0}


def test_suite_benchmark_merges_program_names_over_processes_heaviest_first():
    from bench_suite import per_file

    def prog(traces, trace_s, xlas, xla_s):
        return {"trace": [traces, trace_s], "lower": [xlas, 0.5 * xla_s], "xla": [xlas, xla_s]}

    tests = {"t/test_a.py::x": 3.0}
    stages = [{"t/test_a.py": {"programs": {"episode": prog(2, 1.0, 2, 2.0),
                                            "jit(add)": prog(0, 0.0, 9, 0.2)}}},
              {"t/test_a.py": {"programs": {"jit(add)": prog(0, 0.0, 1, 0.1)},
                               "xla_compilations": 1}}]
    (row,) = per_file(tests, stages, top=1)
    assert row["xla_compilations"] == 1 and "programs" not in row
    assert row["top_programs"] == [{"name": "episode", "events": 4, "seconds": 4.0}]
    (row,) = per_file(tests, stages)
    assert [p["name"] for p in row["top_programs"]] == ["episode", "jit(add)"]
    assert row["top_programs"][1] == {"name": "jit(add)", "events": 10, "seconds": 0.45}


def test_study_finding_ranks_methods_best_first_and_free_riding_least_first():
    from report import _study_finding

    line = _study_finding("cramped_room", {"ippo": (3.5, 35.0, 0.15),
                                           "self_play": (62.4, 18.3, 0.30),
                                           "srpo": (35.8, 45.6, 0.10)})
    assert line == ("cramped_room: CP self_play 62.4, srpo 35.8, ippo 3.5; held-out partners "
                    "srpo 45.6, ippo 35.0, self_play 18.3; free-riding degree srpo 0.10, "
                    "ippo 0.15, self_play 0.30.")
