"""`daf policy inspect` (daf/ops/inspect.py): shorthands and checkpoints, as text and JSON."""

import json

from helpers import run_daf


def test_policy_inspect_shorthands_and_checkpoints(checkpoint):
    random_info = json.loads(run_daf("policy", "inspect", "random", "--json").stdout)
    assert random_info["parameters"] == 0 and random_info["action_space"]["n"] == 5
    assert random_info["observation_space"]["shape"] == [500, 3]  # tokens x (location, feature, value)
    lstm = json.loads(run_daf("policy", "inspect", "lstm", "--json").stdout)
    assert lstm["parameters"] > 1000 and lstm["recurrent"] is True
    result = run_daf("policy", "inspect", str(checkpoint), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    sidecar = json.loads(checkpoint.with_suffix(".json").read_text())
    assert info["class"] == "daf.policies.trained.TrainedPolicy" and info["recurrent"] is False
    assert info["checkpoint"]["sha256"] == sidecar["sha256"] and info["checkpoint"]["steps"] == 128
    assert info["checkpoint"]["hyperparameters"]["num_envs"] == 2 and info["checkpoint"]["seed"] == 3
    import torch

    weights = torch.load(checkpoint, weights_only=True)["model"]
    assert info["parameters"] == sum(t.numel() for t in weights.values() if t.dtype.is_floating_point)
    text = run_daf("policy", "inspect", str(checkpoint)).stdout
    assert "trained     128 agent-steps on cogs.tiny, seed 3" in text
    bad = run_daf("policy", "inspect", "nonsense")
    assert bad.returncode == 2 and bad.stderr.startswith("daf: error: unknown policy 'nonsense'")
