"""Service orders (点单-派单-接单-晒单): residents order a service, organizers dispatch it to a co-building unit or to
volunteers, the taker accepts and does it, the resident confirms, and the public 晒单 list shows it."""
