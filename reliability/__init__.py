"""`make reliability`: inject faults into a running traject and check what it promised still holds."""
