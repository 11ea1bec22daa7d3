"""Pictures the admin draws from the SDK's results, on the client side (no server package needed):
`graph` (a note graph as DOT and SVG) and `timeline` (who ran on the model when, as SVG)."""
