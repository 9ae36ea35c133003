"""The published contract: request and reply models of every route, camelCase on the wire."""
