"""The Journey aggregate, its events, rules and errors. Imports nothing of ours, and no framework."""
