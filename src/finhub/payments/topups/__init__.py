"""Money in: card top-ups through the processor port and bank transfer top-ups."""
