"""The storage seam: one narrow object-store interface and one implementation per SDK."""
