"""traject: api."""
