//! resolve(): the walk's arrivals made into subjects.
