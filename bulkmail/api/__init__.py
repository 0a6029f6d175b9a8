"""The service: the client (pages, add, remove), HTTP answers and URL policy, tokens, retry and throttle, walks."""
