"""The pure domain: records and functions, no I/O, no clock, no globals."""
