"""The HTTP service: FastAPI app, Redis cache layout, publish, events. The only redis importer."""
