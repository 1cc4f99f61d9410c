"""daf.io: JSON records any parser reads."""

import json

import numpy as np
import pandas as pd

from daf.io import json_records


def test_json_records_are_strict_json():
    frame = pd.DataFrame({"x": [1.5, np.nan, np.inf, -np.inf], "n": pd.array([1, None, 3, 4], dtype="Int64"),
                          "b": [True, False, True, False], "s": ["a", None, "c", "d"]})  # fmt: skip
    records = json_records(frame)
    text = json.dumps(records, allow_nan=False)  # would raise on NaN or Infinity
    assert json.loads(text) == [
        {"x": 1.5, "n": 1, "b": True, "s": "a"},
        {"x": None, "n": None, "b": False, "s": None},
        {"x": "inf", "n": 3, "b": True, "s": "c"},
        {"x": "-inf", "n": 4, "b": False, "s": "d"},
    ]
