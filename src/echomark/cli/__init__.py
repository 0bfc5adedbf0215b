"""Command-line interface: ``echomark <verb>``, one module per verb."""
