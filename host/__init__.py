"""The host side: talk to the board (or its simulation) over the UART protocol."""
