"""Pure builders of the objects an instance owns, as plain dicts."""
