"""lead-intake: customer-information records in, validated and normalized, handed on for routing."""
