"""traject: infra."""
