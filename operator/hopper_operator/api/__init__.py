"""The HopperInstance API: pydantic models, the single source of truth for the CRD."""
