"""Redis: the live view. keys.py owns every key name, scripts.py every Lua script."""
