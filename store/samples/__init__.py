"""Sample files for the demo, tests and the template: a small synthetic county.

Every ID number here is well-formed (correct check digit) but in region 99xxxx, which
no real place has, so the samples can never name a real person.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE_ROSTER = HERE / "roster_sample.csv"  # 20 subjects, 6 visitors, 4 villages
SAMPLE_STAFF = HERE / "staff_sample.csv"  # officers: 3 village, 2 township, 1 county
