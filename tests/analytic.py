"""The exact two-rooms model lives in the library; tests import it from here by its old name."""

from worldjepa.worlds.two_rooms import ExactTwoRoomsModel as AnalyticTwoRooms  # noqa: F401
