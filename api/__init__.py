"""traject: api."""

API_VERSION = "1.0.0"  # of the HTTP API: the API-Version header and the OpenAPI document
