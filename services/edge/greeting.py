"""What the agent says when a call connects, before any key is pressed: the menu's choices.

The one place the greeting is written; the simulator prints it and the VideoSDK agent
should speak it. It is phrased by the directory's `spoken_choices`, like the menu's
prompt, but from a fixed list: the edge hears no service announcements, so it cannot know
what is served right now (the menu service can, and names the live keys).
"""

from __future__ import annotations

from services.runtime.directory import Offer, spoken_choices

# The choices a caller hears first. Billing (3) is served too but has never been greeted.
GREETING_OFFERS = (Offer("1", "Sales"), Offer("2", "Support"))
GREETING = spoken_choices(list(GREETING_OFFERS))
