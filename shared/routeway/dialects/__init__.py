"""Faces of the one core: each API dialect parses its request into the core's and renders the core's result.

A dialect module is pure translation (no web framework, no I/O): `parse_*` turns a JSON body into a
`ChatRequest`, `render_*` turns a `Completion` or `CompletionStream` into the dialect's body or events.
"""
