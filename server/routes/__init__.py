"""HTTP and websocket routes: parse, call a use-case, render."""
