"""Hanabi through JaxMARL: the env on jsrpo's contract, its scripted partners (by hand-built
observations and by the scores they reach), and a 2-player run trained, cross-played and
rendered end to end."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import envs
from jsrpo import config, partners
from jsrpo.episodes import play_seats
from jsrpo.partners.hanabi import Layout, rule_scores
from jsrpo.vec_env import VecEnv

KW = {"num_agents": 2, "num_colors": 3, "num_ranks": 3, "num_cards_of_rank": [3, 2, 1]}


def test_only_the_seat_on_turn_has_a_choice_and_counts_its_moves():
    env = envs.make("hanabi", **KW)
    _, state = env.reset(jax.random.PRNGKey(0))
    legal = np.asarray(env.legal_moves(state, env.default_params))
    seat = int(env.current_seat(state))
    assert legal.shape == (2, 17) and legal[1 - seat].tolist() == [False] * 16 + [True]
    assert legal[seat].sum() > 1 and not legal[seat, :5].any()  # 8 info tokens: no discards
    hint = env.hand_size * 2  # a colour hint to the next player
    acts = {a: jnp.int32(hint if i == seat else env.noop) for i, a in enumerate(env.agents)}
    _, state2, rew, dones, infos = env.step_env(jax.random.PRNGKey(1), state, acts,
                                                env.default_params)
    assert int(env.current_seat(state2)) == 1 - seat and float(rew["agent_0"]) == 0.0
    assert np.asarray(infos["hints"]).tolist() == [float(i == seat) for i in range(2)]
    assert int(state2.t) == 1 and not bool(dones["__all__"])


def test_episodes_end_at_max_steps_and_scores_are_fireworks():
    env = envs.make("hanabi", **KW, max_steps=3)
    venv = VecEnv(env)
    agents = [partners.parse("hanabi", "rule", s, {**KW, "max_steps": 3}) for s in range(2)]
    tot = jax.vmap(lambda k: play_seats(venv, agents, [a.params for a in agents], k))(
        jax.random.split(jax.random.PRNGKey(0), 8))
    assert np.all(np.asarray(tot.length) == 3)
    plays = np.asarray(tot.contrib["plays"]).sum(-1)
    np.testing.assert_array_equal(np.asarray(tot.ret)[:, 0], plays)  # no life lost: score = plays


@pytest.mark.parametrize("kwargs, field", [
    ({"num_cards_of_rank": [3, 2]}, "num_cards_of_rank"),
    ({"hand_size": 10}, "hand_size"),
    ({"num_agents": 6}, "num_agents"),
    ({"max_steps": 0}, "max_steps"),
])
def test_bad_game_arguments_are_refused_by_name(kwargs, field):
    with pytest.raises(ValueError, match=f"env.kwargs.{field}"):
        envs.make("hanabi", **{**KW, **kwargs})


def test_config_counts_hanabi_seats():
    cfg = config.load("configs/hanabi/4p_srpo.yaml")
    assert cfg.layout.num_seats == 4 and cfg.srpo.scheme == "shared"
    with pytest.raises(config.ConfigError, match="srpo.scheme"):
        config.load("configs/hanabi/4p_srpo.yaml", ["srpo.scheme=pair"])


# ------------------------------------------------------------------ scripted partners
def _obs(lay: Layout, fire=None, mine=None, other=None, hints=None):
    """A hand-built observation: fireworks levels per colour, my card beliefs {card: (c, r)}
    (all mass on one identity), the next player's cards {card: (c, r)}, and the hints that
    player has {card: (colour_known, rank_known)}."""
    c, r, h, n = lay.num_colors, lay.num_ranks, lay.hand_size, lay.num_agents
    obs = np.zeros(lay.obs_size, np.float32)
    for col, level in (fire or {}).items():
        obs[lay.fireworks + col * r + level - 1] = 1.0  # one-hot of the highest card
    per_card = c * r + c + r
    for card, (col, rank) in (mine or {}).items():
        obs[lay.belief + card * per_card + col * r + rank] = 1.0
    for card, (col, rank) in (other or {}).items():
        obs[card * c * r + col * r + rank] = 1.0
    for card, (ck, rk) in (hints or {}).items():
        base = lay.belief + (h + card) * per_card + c * r
        obs[base] = float(ck)
        obs[base + c] = float(rk)
    assert n == 2
    return jnp.asarray(obs)


def test_rule_partner_priorities_by_hand():
    lay = Layout.of(envs.make("hanabi", **KW).game)
    h, c = lay.hand_size, lay.num_colors
    best = lambda obs: int(jnp.argmax(rule_scores(obs, lay)))
    # my card 2 is surely (colour 1, rank 0) and colour 1 is empty: play it
    assert best(_obs(lay, mine={2: (1, 0)}, other={1: (0, 0)})) == h + 2
    # a card known to be a 1 of colour 0 while colour 0 is at 1 is not playable; the next
    # player's card 1 is (2, 0), playable, rank unknown: hint its rank
    obs = _obs(lay, fire={0: 1}, mine={2: (0, 0)}, other={1: (2, 0)})
    assert best(obs) == 2 * h + c + 0
    # once its rank is known, hint its colour
    obs = _obs(lay, other={1: (2, 0)}, hints={1: (False, True)})
    assert best(obs) == 2 * h + 2
    # nothing known and nothing playable in the other hand: discard the oldest card
    assert best(_obs(lay, fire={2: 1}, other={0: (2, 0)})) == 0


def test_rule_partner_scores_far_above_random():
    venv = VecEnv(envs.make("hanabi", **KW))
    score = {}
    for spec in ("random", "rule"):
        agents = [partners.parse("hanabi", spec, s, KW) for s in range(2)]
        tot = jax.jit(jax.vmap(lambda k: play_seats(venv, agents, [a.params for a in agents],
                                                    k)))(jax.random.split(jax.random.PRNGKey(0),
                                                                          128))
        score[spec] = float(np.asarray(tot.ret)[:, 0].mean())
        if spec == "rule":
            assert float(np.asarray(tot.contrib["misplays"]).sum()) == 0.0
    assert score["random"] < 2.0 and score["rule"] > 6.0, score


# ------------------------------------------------------------------ end to end
def test_two_player_srpo_trains_crossplays_and_renders(tmp_path):
    from jsrpo.cli import main
    raw = yaml.safe_load(open("configs/hanabi/2p_srpo.yaml"))
    raw["num_seeds"] = 2
    raw["train"].update(total_env_steps=2 * 8 * 32, num_envs=8, num_steps=32, update_epochs=2)
    raw["network"]["hidden_sizes"] = [16]
    raw["log"].update(interval=1, eval_envs=8, final_eval_envs=8, progress=False)
    raw["checkpoint"] = {"every_updates": 0}
    cfg_file = tmp_path / "h.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    main(["train", "--config", str(cfg_file), "--out", str(run)])
    out = tmp_path / "xp"
    main(["crossplay", str(run), "--out", str(out), "--episodes", "4",
          "--partners", "rule:epsilon=0.2"])
    res = json.loads((out / "crossplay.json").read_text())
    assert np.asarray(res["team_return"]).shape == (2, 2)
    assert np.asarray(res["partners"]["partner_in_seat1"]["team_return"]).shape == (2, 1)
    txt = tmp_path / "game.txt"
    main(["render", str(run), "--out", str(txt), "--partner", "rule"])
    text = txt.read_text()
    assert "fireworks" in text and "score" in text
