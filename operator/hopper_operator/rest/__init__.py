"""The REST Instance API: the original Hopper contract over HopperInstance objects."""
