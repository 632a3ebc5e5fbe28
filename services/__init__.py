"""traject: services."""
