"""The one HTTP transport every connector talks through: client, retries, limiters, paginators."""
