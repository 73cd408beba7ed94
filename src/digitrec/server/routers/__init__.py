"""One router per area: recognition, models, health."""
