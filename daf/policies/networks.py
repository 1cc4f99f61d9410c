"""DAF's policy networks for MettaGrid token observations.

Two ways in from the `(tokens, 3)` uint8 observation (each token: map cell, feature,
value). Both are parameter-free table lookups (`ObsEncoder`) over the features an
observation can hold: one channel per feature that can appear on a map cell, plus one
channel per object tag (a tag's value is an id, so each tag gets a one-hot channel).
Features that are only ever global (episode progress, last action/reward, spawn
offsets) get their own slots. Values are squashed, `q = round(SCALE * ln(1 + v))`, so
counts of 1 and of 200 both land in a useful range.

- `tokens` / `tokens_lstm` (the default): a deep set over the observation's tokens.
  Each (channel, cell) pair - "a carbon extractor two cells north-east" - and each global
  feature gets a vector, an MLP of a learned channel embedding plus a learned function of
  fixed, smooth features of the cell's offset from the agent (dy, dx, their signs,
  distance, ...). Because positions enter through smooth features, what is learned about
  an object at one offset carries over to nearby offsets; a free weight per cell does not
  (behaviour cloning of a greedy policy: 85% agreement on the clone's own states vs 48%).
  The vectors of all (channel, cell) pairs form one table computed once per forward pass
  (3,380 rows for a 13x13 view with 20 channels), so a sample costs only two pooled
  lookups of its 30-60 tokens: a value-weighted sum and a max (`EmbeddingBag`). Then an
  MLP (and an LSTM for `tokens_lstm`). Global tokens (episode progress, last action and
  reward, offsets from spawn) are left out: they say nothing about where things are on
  a procedural map, and with sparse rewards a critic that fits noise in them gives
  advantages of one sign along them, so the policy drifts (unshaped cogs.small: the
  policy walked west into the wall 76% of the time and scored 0, below random; without
  globals it improved on random in the same budget).
- `cnn` / `lstm`: tokens are scattered into a `(13, 13, channels)` uint8 grid (stored in
  the rollout buffer, channels-last) -> one 3x3 stride-2 convolution (13x13 -> 6x6) ->
  linear (with the global vector) -> [LSTM]. Small on purpose (one CPU thread); it learns
  the fixed-map `cogs.tiny` fast but not the procedural missions.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from mettagrid.policy.policy_env_interface import PolicyEnvInterface

from daf.policies.observations import (
    ARCHS,
    GLOBAL_ONLY,
    RECURRENT,
    TOKEN_ARCHS,
    observation_signature,
    spatial_feature_ids,
)

__all__ = ["ARCHS", "GLOBAL_ONLY", "RECURRENT", "TOKEN_ARCHS", "ObsEncoder", "PolicyNet"]
SCALE = 40.0  # uint8 grid value q = round(SCALE * ln(1 + v)); 255 -> 222, one-hot -> 40
_SQUASH = torch.round(SCALE * torch.log1p(torch.arange(256, dtype=torch.float64))).to(torch.uint8)


class ObsEncoder:
    """Tokens `(B, T, 3)` uint8 -> grid `(B, H, W, C)` and globals `(B, F)`, both uint8.

    All per-token decisions are table lookups (few, large tensor ops: this runs every env
    step): `(feature, value)` -> map channel and stored value, `location` -> map cell.
    Tokens without a map cell (global, empty) land in a dump cell that is cut off.
    """

    def __init__(self, env_info: PolicyEnvInterface):
        signature = observation_signature(env_info)
        self.num_features, self.num_tags = signature["num_features"], signature["num_tags"]
        self.tag_feature, self.spatial_features = signature["tag_feature"], signature["spatial_features"]
        self.height, self.width = signature["height"], signature["width"]
        spatial = spatial_feature_ids(env_info)
        self.channels = len(spatial) + self.num_tags
        self.cells = self.height * self.width
        # (feature << 8 | value) -> channel and stored value; unmapped features -> dump channel
        channel = torch.full((256, 256), self.channels, dtype=torch.long)
        channel[torch.tensor(spatial, dtype=torch.long)] = torch.arange(len(spatial))[:, None]
        stored = _SQUASH.expand(256, 256).clone()
        if self.tag_feature >= 0:  # a tag's value is an id: one-hot channel per tag
            channel[self.tag_feature] = len(spatial) + torch.arange(256).clamp(max=self.num_tags - 1)
            stored[self.tag_feature] = int(SCALE)
        self._channel, self._stored = channel.flatten(), stored.flatten()
        cell = torch.full((256,), self.cells, dtype=torch.long)  # 0xFE (global) and 0xFF (empty) -> dump cell
        rows, cols = torch.meshgrid(torch.arange(self.height), torch.arange(self.width), indexing="ij")
        cell[(rows * 16 + cols).flatten()] = (rows * self.width + cols).flatten()
        self._cell = cell
        # tokens archs: location -> first table row of its cell, (feature, value) -> channel
        # offset; anything off the map or unmapped lands at or past the padding row
        pad = self.cells * self.channels
        self._row_base = torch.where(cell < self.cells, cell * self.channels, pad)
        self._row_channel = torch.where(self._channel < self.channels, self._channel, pad)
        self._value = self._stored.float() * (1.0 / SCALE)

    @property
    def num_inputs(self) -> int:
        """Rows of the `tokens` archs' token table: every (cell, channel) of the view."""
        return self.cells * self.channels

    def tokens(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens `(B, T, 3)` uint8 -> table rows `(B, T)` int64 (`num_inputs` for tokens
        that are not on the map: empty or global) and their values `(B, T)` float
        (squashed, scaled to about 0..5)."""
        tokens = obs.long()
        key = (tokens[..., 1] << 8) | tokens[..., 2]
        row = (self._row_base[tokens[..., 0]] + self._row_channel[key]).clamp_(max=self.num_inputs)
        return row, self._value[key]

    def signature(self) -> dict:
        """What a checkpoint must match to be loadable on a mission."""
        return {
            "num_features": self.num_features,
            "spatial_features": self.spatial_features,
            "num_tags": self.num_tags,
            "tag_feature": self.tag_feature,
            "height": self.height,
            "width": self.width,
        }

    def __call__(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = obs.shape[0]
        tokens = obs.long()
        loc, key = tokens[..., 0], (tokens[..., 1] << 8) | tokens[..., 2]
        width = self.channels + 1
        base = torch.arange(batch).unsqueeze(1)
        grid = torch.zeros(batch * (self.cells + 1) * width, dtype=torch.uint8)
        grid[(base * (self.cells + 1) + self._cell[loc]) * width + self._channel[key]] = self._stored[key]
        grid = grid.view(batch, self.cells + 1, width)[:, : self.cells, : self.channels]
        glob = torch.zeros(batch * self.num_features + 1, dtype=torch.uint8)
        slot = torch.where(loc == 0xFE, base * self.num_features + tokens[..., 1], batch * self.num_features)
        glob[slot] = _SQUASH[tokens[..., 2]]
        return (
            grid.reshape(batch, self.height, self.width, self.channels),
            glob[:-1].view(batch, self.num_features),
        )


def offset_features(height: int, width: int) -> torch.Tensor:
    """Fixed features of each cell's offset (dy, dx) from the agent at the centre of the
    view, row-major: scaled offsets, their signs, closeness, same row/column, here, adjacent."""
    cy, cx = height // 2, width // 2
    dy = (torch.arange(height)[:, None] - cy).expand(height, width).flatten().float()
    dx = (torch.arange(width)[None, :] - cx).expand(height, width).flatten().float()
    dist = dy.abs() + dx.abs()
    reach = max(1, cy + cx)
    return torch.stack(
        [dy / max(1, cy), dx / max(1, cx), dy.sign(), dx.sign(), 1 / (1 + dist), (dy == 0).float(), (dx == 0).float(),
         (dist == 0).float(), (dist == 1).float(), dist / reach],
        dim=1,
    )  # fmt: skip


def layer_init(layer: nn.Module, std: float = 2**0.5, bias: float = 0.0) -> nn.Module:
    """Orthogonal init, as in CleanRL / the PPO implementation-details study."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class PolicyNet(nn.Module):
    def __init__(
        self,
        channels: int,
        num_globals: int,
        num_actions: int,
        arch: str = "tokens",
        hidden_size: int = 128,
        conv_channels: int = 8,
        height: int = 13,
        width: int = 13,
        token_size: int = 32,
    ):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch '{arch}'; valid: {', '.join(ARCHS)}")
        self.arch = arch
        self.hidden_size = hidden_size
        self.uses_tokens = arch in TOKEN_ARCHS
        if self.uses_tokens:
            d = token_size
            self.register_buffer("offsets", offset_features(height, width), persistent=False)
            self.channel_embed = nn.Parameter(torch.randn(channels, d) * 0.5)
            self.offset_embed = nn.Linear(self.offsets.shape[1], d)
            self.token_mlp = nn.Sequential(nn.ReLU(), layer_init(nn.Linear(d, d)), nn.ReLU())
            self.body = nn.Sequential(
                layer_init(nn.Linear(2 * d, hidden_size)), nn.ReLU(), layer_init(nn.Linear(hidden_size, hidden_size)),
                nn.ReLU(),
            )  # fmt: skip
            self._table: torch.Tensor | None = None  # cached while acting (no gradients, fixed weights)
        else:
            c = conv_channels
            self.conv = nn.Sequential(
                layer_init(nn.Conv2d(channels, c, 3, stride=2, padding=0)),  # 13x13 -> 6x6
                nn.ReLU(),
                nn.Flatten(),
            )
            self.body = nn.Sequential(layer_init(nn.Linear(c * 36 + num_globals, hidden_size)), nn.ReLU())
        self.lstm = nn.LSTM(hidden_size, hidden_size) if arch in RECURRENT else None
        if self.lstm is not None:
            for name, param in self.lstm.named_parameters():
                if "bias" in name:
                    nn.init.constant_(param, 0)
                elif "weight" in name:
                    nn.init.orthogonal_(param, 1.0)
        self.actor = layer_init(nn.Linear(hidden_size, num_actions), std=0.01)
        # tokens archs start with values near 0: with sparse rewards, a critic that starts
        # with values of +-1 makes the first advantages mostly its own noise
        self.critic = layer_init(nn.Linear(hidden_size, 1), std=0.01 if self.uses_tokens else 1.0)

    def train(self, mode: bool = True):
        self._table = None  # the weights are about to change
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._table = None  # new weights: a cached token table would keep acting with the old ones
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def token_table(self) -> torch.Tensor:
        """Vectors of every (cell, channel) row, then a zero padding row:
        `(cells * channels + 1, token_size)`."""
        if self._table is not None and not torch.is_grad_enabled():
            return self._table
        per_cell = self.offset_embed(self.offsets)  # (cells, d)
        spatial = (per_cell[:, None, :] + self.channel_embed[None, :, :]).flatten(0, 1)  # row = cell * C + channel
        rows = self.token_mlp(spatial)
        table = torch.cat([rows, rows.new_zeros(1, rows.shape[1])])
        if not self.training and not torch.is_grad_enabled():
            self._table = table
        return table

    def initial_state(self, batch: int, device=None) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.lstm is None:
            return None
        zeros = torch.zeros(1, batch, self.hidden_size, device=device)
        return zeros, zeros.clone()

    def stored(self, encoder: ObsEncoder, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What a rollout buffer keeps of observations `obs` `(B, T, 3)`: the tokens
        themselves (`tokens` archs) or the encoded grid and globals (`cnn`, `lstm`)."""
        return (obs,) if self.uses_tokens else encoder(obs)

    def inputs(self, encoder: ObsEncoder, stored: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward`'s first two arguments from what `stored` returned."""
        return encoder.tokens(stored[0]) if self.uses_tokens else stored

    def features(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """`tokens`: input rows `(B, T)` and values `(B, T)` (`ObsEncoder.tokens`).
        `cnn`: grid `(B, H, W, C)` uint8 (as stored) and globals `(B, F)` uint8."""
        if self.uses_tokens:
            table = self.token_table()
            # only the tokens on the map enter the bags (a third or more of a padded row is
            # empty or global): one flat list with each sample's start, not padded rows
            valid = first < table.shape[0] - 1
            rows, weights = first[valid], second[valid]
            offsets = valid.sum(1).cumsum(0) - valid.sum(1)
            total = nn.functional.embedding_bag(rows, table, offsets, per_sample_weights=weights, mode="sum")
            peak = nn.functional.embedding_bag(rows, table, offsets, mode="max")  # an empty bag gives 0
            return self.body(torch.cat([total * (1.0 / 8), peak], dim=1))  # ~8 tokens carry most of the sum
        x = first.permute(0, 3, 1, 2).float()  # an NCHW view in channels-last memory
        conv, rest = self.conv[0], self.conv[1:]
        # 1/SCALE is folded into the first layer's weights: scaling the small weight
        # tensor is much cheaper than scaling every input element.
        x = nn.functional.conv2d(x, conv.weight * (1.0 / SCALE), conv.bias, conv.stride, conv.padding)
        return self.body(torch.cat([rest(x), second.float() * (1.0 / SCALE)], dim=1))

    def forward(self, first, second, state=None, done=None):
        """Logits, values and the new recurrent state.

        For recurrent archs, inputs are `(T * B, ...)` time-major and `done` `(T * B,)`
        marks steps whose state must be reset before use (the first step of an episode).
        """
        hidden = self.features(first, second)
        if self.lstm is not None:
            h, c = state
            batch = h.shape[1]
            hidden = hidden.view(-1, batch, self.hidden_size)
            done = done.view(-1, batch, 1).float()
            outputs = []
            for x, d in zip(hidden, done):
                h, c = h * (1.0 - d), c * (1.0 - d)
                out, (h, c) = self.lstm(x.unsqueeze(0), (h, c))
                outputs.append(out)
            hidden = torch.cat(outputs).view(-1, self.hidden_size)
            state = (h, c)
        return self.actor(hidden), self.critic(hidden).squeeze(-1), state
