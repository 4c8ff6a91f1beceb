"""The vocabulary every layer speaks: records, periods, host names, limits. Pure: no I/O."""
