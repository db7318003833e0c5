"""Backends: each URI scheme as a store combined with a layout, as the registry loads them."""
