"""schedule layer."""
