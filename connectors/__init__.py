"""Connector plugins shipped with omnihub, one package per platform (client, connector, sandbox)."""
