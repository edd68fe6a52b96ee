"""The fixture families of scripts/make_fixtures.py, one file each, and what they share."""
