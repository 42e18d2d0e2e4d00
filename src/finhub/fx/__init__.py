"""Currencies: exchange rates (ECB reference rates, manual rates), quotes and conversions."""
