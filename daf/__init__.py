"""DAF: reproducible training, evaluation, comparison and reporting for CoGames missions."""

__version__ = "0.1.0"
