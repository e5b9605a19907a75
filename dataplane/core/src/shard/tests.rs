//! Unit tests of the rooms.
