"""The sandbox kit: what every platform simulator shares, and the catalogues they are seeded from."""
