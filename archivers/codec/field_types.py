"""Groups of protobuf field types, as protojson spells their values."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

INT64_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64,
})  # fmt: skip
"""64-bit integers: protojson writes them as decimal strings."""

INT32_TYPES = frozenset({
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32,
})  # fmt: skip
"""32-bit integers: protojson writes them as numbers."""
