"""asv benchmarks for crossentropy (see benchmarks/README.md)."""
