"""Worlds: the physics video world for pretraining, and worlds with actions for world models.

`make_world(name)` builds a world with actions by name: "two-rooms", "push", "reacher" (Gymnasium's MuJoCo
Reacher-v5 as DINO-WM's reach task), "push-t" (Push-T on the gym-pusht package, stable-worldmodel's protocol),
or "gym:ENV_ID" for any Gymnasium environment through the pixel adapter.
"""

from __future__ import annotations

import difflib

from .acting import ActingWorld, Task

BUILT_IN = ("two-rooms", "push", "reacher", "push-t")


def make_world(name: str, image_size: int = 64, **kwargs) -> ActingWorld:
    if name == "two-rooms":
        from .two_rooms import TwoRooms

        return TwoRooms(image_size=image_size, **kwargs)
    if name == "push":
        from .push import Push

        return Push(image_size=image_size, **kwargs)
    if name == "reacher":
        from .reacher import Reacher

        return Reacher(image_size=image_size, **kwargs)
    if name == "push-t":
        from .push_t import PushT

        return PushT(image_size=image_size, **kwargs)
    if name.startswith("gym:"):
        from .gym_adapter import GymPixels

        return GymPixels(name[4:], image_size=image_size, **kwargs)
    close = difflib.get_close_matches(name, BUILT_IN, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"unknown world {name!r}{hint} (built-in: {', '.join(BUILT_IN)}; or gym:ENV_ID for a "
                     "Gymnasium environment)")


__all__ = ["ActingWorld", "Task", "make_world", "BUILT_IN"]
