"""Connector plugins: the contract they implement, their mappings, and how they are found."""
