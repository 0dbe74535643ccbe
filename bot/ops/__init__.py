"""Operating the bot: health, readiness and metrics endpoints."""
