"""What the hub remembers between runs: tables, migrations, the store and its locks."""
