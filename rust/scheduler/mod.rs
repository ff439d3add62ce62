//! The work-stealing scheduler (filled in by the engine work).
