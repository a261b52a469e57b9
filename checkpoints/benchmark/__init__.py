"""`manage.py benchmark`: how fast versions are, next to what users would do instead."""
