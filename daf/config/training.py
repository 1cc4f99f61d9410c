"""The training sections: PPO hyperparameters and a policy's `train:` settings (missions,
preset, budget, seeds, architecture).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from daf.config.base import MissionName, Strict
from daf.errors import UserError


class PPOConfig(Strict):
    """PPO hyperparameters (daf.training.ppo). Every field is used by the trainer; a test checks each one."""

    learning_rate: float = Field(default=2.5e-3, gt=0, le=1, description="Adam step size.")
    anneal_lr: bool = Field(
        default=False,
        description="Decay the learning rate linearly to 0 at the end of the requested `steps` (CleanRL's "
        "schedule). The schedule then depends on the budget: the same seed learns differently with another "
        "budget. The default (false) is the warm-up and decay below, in agent-steps; with true they are not used.",
    )
    lr_warmup_steps: int = Field(
        default=0,
        ge=0,
        le=10**12,
        description="Agent-steps of linear learning-rate warm-up from 0 (with anneal_lr: false).",
    )
    lr_decay_steps: int = Field(
        default=2_000_000,
        ge=0,
        le=10**12,
        description="With anneal_lr: false, after the warm-up, decay the learning rate linearly to "
        "`lr_final_fraction` of `learning_rate` over this many agent-steps, then hold it (0: constant). In "
        "agent-steps, not a fraction of the budget: a run's first updates are the same whatever its length, "
        "and a longer budget continues a shorter run.",
    )
    lr_final_fraction: float = Field(
        default=0.1, ge=0, le=1, description="Learning rate at the end of `lr_decay_steps`, as a fraction."
    )

    gamma: float = Field(default=0.99, ge=0, le=1, description="Discount factor.")
    gae_lambda: float = Field(default=0.95, ge=0, le=1, description="GAE lambda.")
    bootstrap_time_limits: bool = Field(
        default=False,
        description="At an episode's time limit (max_steps), bootstrap the value target with the value of its "
        "last observation instead of treating the limit as the end of the task (partial-episode bootstrapping, "
        "Pardo et al. 2018): the observation does not show the time left, so a terminal target there is noise "
        "to the critic.",
    )
    act_while_learning: bool = Field(
        default=False,
        description="Collect the next rollout while the learner trains on this one (a second thread): both cores "
        "work, and each rollout is acted with the weights of one update earlier (PPO's ratio to the stored "
        "behaviour log-probabilities corrects for it). False: strictly sequential, on-policy updates.",
    )
    num_envs: int = Field(default=32, ge=1, le=4096, description="Parallel envs per rank.")
    rollout_steps: int = Field(default=32, ge=1, le=100_000, description="Env steps per env per update.")
    num_minibatches: int = Field(default=8, ge=1, description="Minibatches per epoch.")
    update_epochs: int = Field(default=4, ge=1, le=100, description="SGD passes over each rollout.")
    norm_adv: bool = Field(default=True, description="Normalise advantages per minibatch.")
    clip_coef: float = Field(default=0.2, gt=0, description="Surrogate clipping epsilon.")
    clip_vloss: bool = Field(default=True, description="Clip the value loss like the policy.")
    ent_coef: float = Field(default=0.01, ge=0, description="Entropy bonus coefficient.")
    vf_coef: float = Field(default=0.5, ge=0, description="Value loss coefficient.")
    max_grad_norm: float = Field(default=0.5, gt=0, description="Global gradient-norm clip.")
    target_kl: float | None = Field(default=None, gt=0, description="Stop the epochs early above this KL.")
    hidden_size: int = Field(default=128, ge=8, le=4096, description="Width of the hidden layers (and LSTM).")
    token_size: int = Field(default=32, ge=4, le=1024, description="Width of the token vectors (tokens archs).")
    conv_channels: int = Field(default=8, ge=1, le=512, description="Channels of the convolution (cnn archs).")
    checkpoint_interval: int = Field(default=50_000, ge=1, description="Agent-steps between periodic checkpoints.")


class TrainConfig(Strict):
    """A policy DAF trains with PPO (the `train` rule), once per seed; a run's checkpoint is
    results/checkpoints/{policy}/seed{seed}/model.pt."""

    mission: MissionName | None = Field(
        default=None, description="Mission to train on (name or mission .py file); or give `missions`."
    )
    missions: list[MissionName] | None = Field(
        default=None,
        min_length=1,
        description="Several missions for one network: every env draws one per episode from its own seeded "
        "stream. They must share observation features and actions.",
    )
    mission_weights: list[float] | None = Field(
        default=None, description="Draw probabilities of `missions`, one positive weight each (default: equal)."
    )
    shaping: dict[str, float] = Field(
        default_factory=dict,
        description="Training-only reward terms: agent stat -> reward per unit, e.g. {carbon.gained: 0.1} "
        "(resource .gained/.lost, action counters or cell.unique_visited). Recorded in the checkpoint; "
        "evaluation always uses the mission's own reward.",
    )
    preset: Literal["gather", "explore"] | None = Field(
        default=None,
        description="A named set of shaping terms (gather: 0.5 per unit of every resource the missions' agents "
        "gather; explore: gather's terms plus 0.01 per cell an agent enters for the first time in an episode); "
        "`shaping` entries override its terms.",
    )
    steps: int = Field(ge=1, le=10**12, description="Total agent-steps of training.")
    seed: int | None = Field(
        default=None,
        ge=0,
        description="One training run (default seed 0): seeds the network init, env maps and action sampling.",
    )
    seeds: int | list[int] | None = Field(
        default=None,
        description="Several training runs (the unit of replication): a list of seeds, or N for seeds 0..N-1. "
        "Each seed is its own train job (results/checkpoints/{policy}/seed{seed}/); every run is evaluated "
        "on the same episodes. Give `seed` or `seeds`, not both.",
    )
    arch: Literal["tokens", "tokens_lstm", "cnn", "lstm"] = Field(
        default="tokens",
        description="Network: tokens (a deep set over the observation's tokens: a learned vector per "
        "channel x cell offset, summed and max-pooled over a sample's tokens, then an MLP), tokens_lstm (with "
        "an LSTM), or the small convolutional cnn / lstm.",
    )
    hyperparameters: PPOConfig = Field(default_factory=PPOConfig, description="PPO hyperparameters.")
    workers: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Env worker processes per rank (0: envs step in the training process). Speed only: "
        "the trained network does not depend on it.",
    )
    nproc_per_node: int = Field(default=1, ge=1, le=64, description="Data-parallel ranks per node (torchrun).")
    nnodes: int = Field(default=1, ge=1, le=1024, description="Nodes (inside a SLURM allocation: srun + torchrun).")

    @field_validator("seeds")
    @classmethod
    def _seeds_valid(cls, seeds: int | list[int] | None) -> int | list[int] | None:
        if isinstance(seeds, int) and not 1 <= seeds <= 10_000:
            raise ValueError("a number of seeds must be 1..10000")
        if isinstance(seeds, list):
            if not seeds:
                raise ValueError("list at least one seed")
            if any(s < 0 for s in seeds):
                raise ValueError("seeds must be non-negative")
            if len(set(seeds)) != len(seeds):
                raise ValueError("a seed is listed twice")
        return seeds

    @model_validator(mode="after")
    def _one_mission_field(self) -> TrainConfig:
        if self.seeds is not None and self.seed is not None:
            raise ValueError("give `seed` (one training run) or `seeds` (several), not both")
        if (self.mission is None) == (self.missions is None):
            raise ValueError("give exactly one of `mission` (one mission) or `missions` (several)")
        from daf.missions import get_mission
        from daf.missions.sets import check_compatible, check_weights, resolve_shaping

        missions = [get_mission(m) for m in self.mission_names()]
        try:
            check_compatible(missions)
            if self.mission_weights is not None:
                check_weights(self.mission_weights, missions)
            resolve_shaping(self.preset, self.shaping, missions)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self

    def mission_names(self) -> list[str]:
        """The missions this policy trains on (names or mission files)."""
        return [self.mission] if self.mission is not None else list(self.missions)

    def run_seeds(self) -> list[int]:
        """The training seeds: one per run."""
        if self.seeds is None:
            return [0 if self.seed is None else self.seed]
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


HYPERPARAMETERS = list(PPOConfig.model_fields)


def make_config(values: dict[str, object]) -> PPOConfig:
    try:
        return PPOConfig(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            from daf.errors import unknown_choice

            raise unknown_choice("hyperparameter", where, HYPERPARAMETERS) from None
        if not where:  # a check across several hyperparameters
            raise UserError(f"hyperparameters: {err['msg'].removeprefix('Value error, ')}") from None
        raise UserError(f"hyperparameter {where}: {err['msg']} (got {err.get('input')!r})") from None
