"""Mechanism drivers, registered as ``vfplane.mechanism_drivers`` entry points."""
