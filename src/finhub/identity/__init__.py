"""Who is calling: people, staff, sessions, second factors, API keys and what each may do."""
