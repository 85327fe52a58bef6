"""Measured quality numbers; each function documents the protocol it follows."""
