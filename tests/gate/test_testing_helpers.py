"""`Gate.override`, `geogate.testing.pinned_date`, `assert_allowed` and `assert_denied`."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import geogate._gate.gate
import geogate._gate.overrides
from geogate import Effect, Gate, Reason, UnknownFeatureError
from geogate._engine.decision import short_revision
from geogate.testing import assert_allowed, assert_denied, pinned_date
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"
EU_REASON = (
    'Meta does not offer its multimodal Llama models in the EU, citing "the unpredictable '
    'nature of the European regulatory environment".'
)
UK_REASON = (
    "Meta released the multimodal Llama models in the United Kingdom, which left the EU on "
    "2020-01-31."
)


def today():
    return dt.datetime.now(dt.UTC).date()


def policy(gate):
    return f"policy {short_revision(gate.revision)}"


# Gate.override


def test_override_forces_the_effect(shipped):
    """Inside the block the feature gets the forced effect, with a decision that says so."""
    with shipped.override(VISION, allow=True):
        decision = shipped.evaluate(VISION, country="FR", at="2026-01-01")
        assert shipped.is_allowed(VISION, country="FR")

    assert (True, Effect.ALLOW, Reason.DEFAULT) == (
        decision.allowed,
        decision.effect,
        decision.reason,
    )
    assert (None, None, None, None) == (
        decision.rule,
        decision.source,
        decision.citation,
        decision.error_code,
    )
    assert ("FR", ("EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD")) == (
        decision.country,
        decision.jurisdictions,
    )
    assert (
        f"{VISION} is allowed by a test override (Gate.override; {policy(shipped)}, as of "
        f"2026-01-01). Without it: {VISION} is denied in FR (France, in the EU) by rule "
        f"eu-multimodal-withheld ({policy(shipped)}, as of 2026-01-01): {EU_REASON}"
    ) == decision.explanation
    assert not shipped.is_allowed(VISION, country="FR")


def test_override_deny_and_bad_input_is_never_an_error(shipped):
    """A forced denial holds everywhere, and even malformed input gets the forced effect."""
    with shipped.override(VISION, allow=False):
        assert not shipped.is_allowed(VISION, country="GB")
        assert not shipped.is_allowed(VISION)
        with shipped.override(VISION, allow=True):
            malformed = shipped.evaluate(VISION, country=42, at="not a date")

    assert (True, Reason.DEFAULT, None) == (
        malformed.allowed,
        malformed.reason,
        malformed.error_code,
    )
    assert shipped.is_allowed(VISION, country="GB")


def test_override_touches_one_feature_of_one_gate(shipped):
    """Other features, and the same feature on another gate, keep the policy's answer."""
    other = Gate.from_path(POLICIES)
    with shipped.override(VISION, allow=True):
        assert not shipped.is_allowed("llama-3.2-vision-license", domicile="FR")
        assert not other.is_allowed(VISION, country="FR")
        assert not other.evaluate(VISION, country="FR").allowed


def test_overrides_nest_and_unwind(shipped):
    """The innermost override wins; leaving it restores the outer one, then the policy."""
    seen = []
    with shipped.override(VISION, allow=True):
        seen.append(shipped.is_allowed(VISION, country="FR"))
        with shipped.override(VISION, allow=False):
            seen.append(shipped.is_allowed(VISION, country="FR"))
            seen.append(shipped.is_allowed(VISION, country="GB"))
        seen.append(shipped.is_allowed(VISION, country="GB"))
        seen.append(shipped.is_allowed(VISION, country="FR"))
    seen.append(shipped.is_allowed(VISION, country="FR"))

    assert [True, False, False, True, True, False] == seen


def test_override_ends_on_an_exception(shipped):
    """An exception leaving the block still ends the override, and the fast path comes back."""
    with pytest.raises(RuntimeError, match="boom"), shipped.override(VISION, allow=True):
        raise RuntimeError("boom")

    assert not shipped.is_allowed(VISION, country="FR")
    assert 0 == shipped._forced
    assert shipped._today.expires == shipped._expires
    assert () == geogate._gate.overrides._FORCINGS.get()


def test_fast_path_is_off_during_an_override_and_back_after(shipped):
    """While an override is open the memo's expiry is 0; after, today's, and the memo is real."""
    assert not shipped.is_allowed(VISION, country="FR")
    expires = shipped._expires
    assert expires > 0

    with shipped.override(VISION, allow=True):
        assert 0.0 == shipped._expires
        assert shipped.is_allowed(VISION, country="FR")
        assert shipped.is_allowed(VISION, country="DE")

    assert expires == shipped._expires
    # Only the policy's own decisions were memoised for the fast path.
    row = shipped._today.rows[VISION]
    assert (False, False) == (row["FR"].allowed, row["DE"].allowed)
    assert not shipped.is_allowed(VISION, country="DE")


def test_midnight_during_an_override_keeps_the_fast_path_off(tmp_path, monkeypatch):
    """The memo replaced at midnight while an override is open does not turn the fast path on."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: fr-until-new-year, deny: [FR], until: 2030-01-01, reason: r}\n",
        encoding="utf-8",
    )
    clock = [dt.datetime(2030, 1, 1, 23, 59, 59, tzinfo=dt.UTC).timestamp()]
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: clock[0])
    gate = Gate.from_path(tmp_path)

    with gate.override("f", allow=False):
        clock[0] += 1  # 2030-01-02T00:00:00Z
        assert not gate.is_allowed("f", country="GB")
        assert dt.date(2030, 1, 2) == gate._today.day
        assert 0.0 == gate._expires

    assert gate._today.expires == gate._expires
    assert gate.is_allowed("f", country="FR")


def test_override_is_per_thread(shipped):
    """A thread without the override gets the policy's answer while another thread has one."""
    inside = threading.Event()
    checked = threading.Event()

    def overriding():
        with shipped.override(VISION, allow=True):
            inside.set()
            assert checked.wait(5)
            return shipped.is_allowed(VISION, country="FR")

    def plain():
        assert inside.wait(5)
        try:
            return shipped.is_allowed(VISION, country="FR"), shipped.evaluate(VISION, country="FR")
        finally:
            checked.set()

    with ThreadPoolExecutor(2) as pool:
        forced = pool.submit(overriding)
        real = pool.submit(plain)
        assert forced.result()
        allowed, decision = real.result()

    assert (False, "eu-multimodal-withheld") == (allowed, decision.rule)
    assert shipped._today.expires == shipped._expires


def test_override_is_per_task(shipped):
    """asyncio tasks are isolated; a task started in the block does not keep it after the block."""

    async def main():
        entered = asyncio.Event()
        release = asyncio.Event()

        async def overriding():
            with shipped.override(VISION, allow=True):
                entered.set()
                await release.wait()
                return shipped.is_allowed(VISION, country="FR")

        async def plain():
            await entered.wait()
            answer = shipped.is_allowed(VISION, country="FR")
            release.set()
            return answer

        forced, real = await asyncio.gather(overriding(), plain())

        late_go = asyncio.Event()

        async def late():
            await late_go.wait()
            return shipped.is_allowed(VISION, country="FR")

        with shipped.override(VISION, allow=True):
            task = asyncio.create_task(late())  # copies the context, override included
            await asyncio.sleep(0)
        late_go.set()
        return forced, real, await task

    assert (True, False, False) == asyncio.run(main())


def test_override_of_an_unknown_feature_raises(shipped):
    """A misspelt feature is a mistake in the test, reported at once."""
    with (
        pytest.raises(UnknownFeatureError) as error,
        shipped.override("llama-3.2-vison", allow=True),
    ):
        pass  # pragma: no cover

    assert (
        "no feature 'llama-3.2-vison' in the loaded policies; did you mean 'llama-3.2-vision'?"
    ) == str(error.value)


def test_override_needs_a_bool(shipped):
    """``allow=`` must be True or False."""
    with pytest.raises(TypeError) as error, shipped.override(VISION, allow="yes"):  # type: ignore[arg-type]
        pass  # pragma: no cover

    assert "allow must be True or False, not 'yes'" == str(error.value)


# pinned_date


def test_pinned_date_decides_calls_without_at(shipped):
    """Inside the block, calls without ``at=`` decide as of the pinned date; ``at=`` is kept."""
    with pinned_date(shipped, "2024-09-24") as day:
        before = shipped.evaluate(VISION, country="FR")
        assert shipped.is_allowed(VISION, country="FR")
        explicit = shipped.evaluate(VISION, country="FR", at="2024-09-25")

    assert dt.date(2024, 9, 24) == day
    assert (True, dt.date(2024, 9, 24)) == (before.allowed, before.as_of)
    assert (False, dt.date(2024, 9, 25)) == (explicit.allowed, explicit.as_of)
    after = shipped.evaluate(VISION, country="FR")
    assert (False, today()) == (after.allowed, after.as_of)
    assert shipped._today.expires == shipped._expires
    # The pinned decision never entered today's memo.
    assert shipped._today.rows[VISION]["FR"].as_of == today()


def test_pinned_dates_nest_and_combine_with_overrides(shipped):
    """The innermost pin wins; an override inside a pin reports the pinned date."""
    with pinned_date(shipped, dt.date(2024, 9, 24)):
        with pinned_date(shipped, dt.datetime(2025, 1, 1, tzinfo=dt.UTC)):
            inner = shipped.evaluate(VISION, country="FR").as_of
            with shipped.override(VISION, allow=True):
                forced = shipped.evaluate(VISION, country="FR")
        outer = shipped.evaluate(VISION, country="FR").as_of

    assert (dt.date(2025, 1, 1), dt.date(2024, 9, 24)) == (inner, outer)
    assert (True, dt.date(2025, 1, 1)) == (forced.allowed, forced.as_of)


def test_pinned_date_needs_a_date(shipped):
    """A pin that is not a date is refused when the block starts."""
    with pytest.raises(TypeError) as error, pinned_date(shipped, "24/09/2024"):
        pass  # pragma: no cover

    assert (
        "the date to pin must be a datetime.date, an aware datetime or 'YYYY-MM-DD', "
        "not '24/09/2024'"
    ) == str(error.value)
    assert 0 == shipped._forced


# assert_allowed and assert_denied


def test_assert_helpers_return_the_decision(shipped):
    """A passing assertion returns the decision for further checks."""
    assert "uk-multimodal-offered" == assert_allowed(shipped, VISION, country="GB").rule
    assert "eu-multimodal-withheld" == assert_denied(shipped, VISION, country="FR").rule


def test_assert_allowed_message_is_the_chain(shipped):
    """A failing assert_allowed shows what was expected and the whole resolution chain."""
    with pytest.raises(AssertionError) as error:
        assert_allowed(shipped, VISION, country="fr", at="2026-01-01")

    assert (
        f"expected {VISION} to be allowed for country='fr' (as of 2026-01-01), but it is denied:\n"
        "  Location: FR (France), from country 'fr'.\n"
        "  Jurisdictions: on 2026-01-01, FR is in EUROZONE, SCHENGEN, EU, EEA, WORLD.\n"
        "  Rule eu-multimodal-withheld (deny EU, from 2024-09-25) won: its target EU contains "
        "FR (France), and it is the only candidate.\n"
        "  Rule uk-multimodal-offered (allow UK, from 2024-09-25) is not a candidate: its "
        "targets (UK) do not contain FR (France) on 2026-01-01.\n"
        f"  Result: DENIED. {VISION} is denied in FR (France, in the EU) by rule "
        f"eu-multimodal-withheld ({policy(shipped)}, as of 2026-01-01): {EU_REASON}"
    ) == str(error.value)


def test_assert_denied_message_shows_an_override(shipped):
    """When an override decided, the message gives the policy's chain and the gate's decision."""
    with (
        pinned_date(shipped, "2026-01-01"),
        shipped.override(VISION, allow=True),
        pytest.raises(AssertionError) as error,
    ):
        assert_denied(shipped, VISION, country="GB")

    uk = (
        f"{VISION} is allowed in GB (United Kingdom, in the UK) by rule uk-multimodal-offered "
        f"({policy(shipped)}, as of 2026-01-01): {UK_REASON}"
    )
    assert (
        f"expected {VISION} to be denied for country='GB' (as of 2026-01-01), but it is "
        "allowed:\n"
        "  Location: GB (United Kingdom), from country 'GB'.\n"
        "  Jurisdictions: on 2026-01-01, GB is in UK, WORLD.\n"
        "  Rule eu-multimodal-withheld (deny EU, from 2024-09-25) is not a candidate: its "
        "targets (EU) do not contain GB (United Kingdom) on 2026-01-01.\n"
        "  Rule uk-multimodal-offered (allow UK, from 2024-09-25) won: its target UK contains "
        "GB (United Kingdom), and it is the only candidate.\n"
        f"  Result: ALLOWED. {uk}\n"
        f"  This gate decided: {VISION} is allowed by a test override (Gate.override; "
        f"{policy(shipped)}, as of 2026-01-01). Without it: {uk}"
    ) == str(error.value)


def test_assert_message_without_a_location(shipped):
    """With no location the chain says the location is unknown and which setting decided."""
    with pytest.raises(AssertionError) as error:
        assert_allowed(shipped, VISION, at="2026-01-01")

    assert (
        f"expected {VISION} to be allowed for no location (as of 2026-01-01), but it is denied:\n"
        "  Location: unknown, because no country was given.\n"
        "  Rule eu-multimodal-withheld (deny EU, from 2024-09-25) is not a candidate: the "
        "location is unknown, so no rule can contain it.\n"
        "  Rule uk-multimodal-offered (allow UK, from 2024-09-25) is not a candidate: the "
        "location is unknown, so no rule can contain it.\n"
        "  Fallback: the location is unknown, so the feature's setting for unknown locations "
        "decides: deny.\n"
        f"  Result: DENIED. {VISION} is denied by the feature's setting for unknown locations "
        f"({policy(shipped)}, as of 2026-01-01): No country was given."
    ) == str(error.value)
