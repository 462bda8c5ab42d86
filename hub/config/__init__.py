"""The hub's configuration: YAML that remembers where each value came from, and its validated model."""
