"""The read side: what each view counts, dispatched on event class."""
