"""One module per resource: thin HTTP adapters over ``src/services``."""
