"""Event builders for notifications tests, from the committed contract examples."""

from __future__ import annotations

import json
from pathlib import Path

from jumelage_contracts import model_for
from jumelage_contracts.bounds import STORED

EXAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "jumelage_contracts" / "examples"
PID = "p-c0f5c2a2-6f1e-4c8e-9d55-1f2e3a4b5c6d"


def example(event_type: str, *, stored: bool = False, **changes):
    """The committed example with ``changes``; ``stored=True`` reads it as history is read (the
    bounds relaxed), for an event written before a bound existed."""
    data = json.loads((EXAMPLES / f"{event_type}.v1.json").read_text())
    data.update(changes)
    return model_for(event_type).model_validate(data, context=STORED if stored else None)


def referents():
    return [
        example("ReferentDesignated"),
        example("ReferentDesignated", referent_id="ref-yannick-lebrun", side="partner", role="coordinator",
                name="Yannick Lebrun", email="y.lebrun@carnavalet.example.fr", phone=None),
    ]


async def play_attribution(h, dispositif: str = "culture", with_referents: bool = True) -> None:
    """On 4 July 2025: the campaign, the attribution and (unless told not to) both referents."""
    from datetime import datetime, timezone

    h.clock.set(datetime(2025, 7, 4, 10, 0, tzinfo=timezone.utc))
    await h.play(example("CampaignOpened", dispositif=dispositif))
    await h.play(example("PartnershipAttributed", dispositif=dispositif))
    if with_referents:
        for event in referents():
            await h.play(event)


async def play_programme(h) -> None:
    """The attribution with its referents, then on 1 September the example meeting and action."""
    from datetime import datetime, timezone

    await play_attribution(h)
    h.clock.set(datetime(2025, 9, 1, tzinfo=timezone.utc))
    await h.play(example("MeetingScheduled"))
    await h.play(example("ActionScheduled"))
