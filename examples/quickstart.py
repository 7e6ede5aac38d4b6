"""
The README's example: load the shipped policies and ask about a few requests.

Run from the repository root: python examples/quickstart.py
"""

import datetime as dt
from pathlib import Path

from geogate import Gate

POLICIES = Path(__file__).resolve().parent.parent / "policies"

gate = Gate.from_path(POLICIES)

# A request from France: the multimodal model is withheld in the EU.
decision = gate.evaluate("llama-3.2-vision", country="FR", at=dt.date(2026, 1, 1))
print(decision.allowed, decision.rule)
print(decision.explanation)

# The United Kingdom gets it; so does Greenland (not in the EU), but not Réunion (EU territory).
for country in ("GB", "GL", "RE"):
    print(country, gate.is_allowed("llama-3.2-vision", country=country, at=dt.date(2026, 1, 1)))

# The text-only model stays available in the EU.
print(gate.is_allowed("llama-3.1-405b", country="FR"))

# Unknown or invalid input never allows by accident: it denies and says why.
print(gate.evaluate("llama-3.2-vision", country="XX").explanation)

# Apple Intelligence on iPhone reached the EU with iOS 18.4 on 2025-03-31.
for day in (dt.date(2025, 3, 30), dt.date(2025, 3, 31)):
    print(day, gate.is_allowed("apple-intelligence-iphone", country="DE", at=day))
