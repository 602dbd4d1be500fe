"""HTTP routes and the bus consumer's entry point."""
