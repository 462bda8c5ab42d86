"""The console's stylesheet, served by the console itself (package data)."""
