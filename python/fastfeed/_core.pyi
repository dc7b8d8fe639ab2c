"""Type stubs for the Rust extension ``fastfeed._core`` (checked by ``mypy.stubtest``)."""

__version__: str

# --- ws: WebSocket codec ---------------------------------------------------------------------

# --- envelope: commands and acknowledgements -------------------------------------------------

# --- event: event codec and columnar batches -------------------------------------------------

# --- json_stream: JSON stream splitter -------------------------------------------------------

# --- bars: OHLC aggregation and rings --------------------------------------------------------
