"""The Overcooked study's choice of private costs (experiments/overcooked_study.py), by hand."""
import pytest
from overcooked_study import choose_cost, free_riding_degree  # experiments/ is on pythonpath


def test_overcooked_study_chooses_the_most_free_riding_cost_that_keeps_delivering():
    def row(scale, deliveries, onions):
        return {"env.kwargs.move_cost": scale, "deliveries": deliveries,
                "onions_in_pot": onions, "plates_picked": [0.0, 0.0], "soups_picked": [0.0, 0.0]}

    assert free_riding_degree(row(0.0, [4.0, 0.0], [0.0, 0.0])) == 1.0
    assert free_riding_degree(row(0.0, [1.0, 1.0], [3.0, 3.0])) == 0.0
    assert free_riding_degree(row(0.0, [0.0, 0.0], [0.0, 0.0])) == 0.0  # nobody works
    rows = [row(0.0, [5.0, 5.0], [15.0, 15.0]),  # 200 sparse, even
            row(0.05, [4.0, 4.0], [20.0, 4.0]),  # 160, uneven (free-riding 0.5)
            row(0.1, [6.0, 0.0], [18.0, 0.0]),  # 120, one seat does everything
            row(0.2, [2.0, 0.0], [6.0, 0.0])]  # 40: below half of 200, excluded
    choice = choose_cost(rows)
    assert choice["scale"] == 0.1
    assert [t["sparse_return"] for t in choice["table"]] == [200.0, 160.0, 120.0, 40.0]
    assert choose_cost(rows[:1] + rows[3:])["scale"] is None
    with pytest.raises(ValueError, match="reference scale 0"):
        choose_cost(rows[1:])
