"""Unit-level methods: continual backprop (CBP) and ReDo."""

from plasticity.units.base import UnitMethod
from plasticity.units.cbp import CBP
from plasticity.units.redo import ReDo

__all__ = ["CBP", "ReDo", "UnitMethod"]
