"""
Gate a model in application code: pick the model a request may use.

The location here is a country code the application already trusts (for
example from its own account data). Run: python examples/request_handler.py
"""

from pathlib import Path

from geogate import Gate

gate = Gate.from_path(Path(__file__).resolve().parent.parent / "policies")


def choose_model(country: str | None, *, wants_images: bool) -> str:
    """Return the model to serve, falling back to text-only where vision is withheld."""
    if wants_images:
        decision = gate.evaluate("llama-3.2-vision", country=country)
        if decision:
            return "llama-3.2-vision"
        # Log the explanation: it names the rule, the place, the policy revision and the reason.
        print("vision withheld:", decision.explanation)
    if gate.is_allowed("llama-3.1-405b", country=country):
        return "llama-3.1-405b"
    return "none"


for country in ("US", "DE", "GB", None):
    print(country, "->", choose_model(country, wants_images=True))
