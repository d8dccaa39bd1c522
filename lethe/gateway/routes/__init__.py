"""HTTP routes. Each module holds one ``router``; :mod:`lethe.gateway.app` mounts them."""
