"""Training: PPO (CleanRL-style loop, GAE, clipped loss), rollout buffers, torch.distributed
data parallelism and the torchrun launcher.

May import: the base modules, missions, policies, config.
"""
