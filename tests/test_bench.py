"""The benchmark's paired ratio: per-round time ratios of systems run back to back, so a load
change between rounds cancels (hand-computed)."""
from bench_vs_jaxmarl import paired_ratio  # experiments/ is on pytest's pythonpath


def test_paired_ratio_is_the_median_of_same_round_ratios():
    # Round 1 ran while the host was quiet for the reference only: the ratio of minima
    # (100 / 150) says the system is slower, while in two of three rounds it took half as long.
    ref, sys_ = [100.0, 300.0, 300.0], [200.0, 150.0, 150.0]
    assert min(ref) / min(sys_) == 100.0 / 150.0
    assert paired_ratio(ref, sys_) == 2.0
    assert paired_ratio([10.0, 20.0], [10.0, 40.0]) == 0.75  # even count: mean of 1.0 and 0.5
