"""The canonical model: records every platform is normalized into, and the values they may hold."""
