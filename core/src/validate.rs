//! (core engineer)
