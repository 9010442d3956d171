"""Pure domain: wire shapes, catalog, routing. No I/O, no web framework, no clock or RNG of its own."""
