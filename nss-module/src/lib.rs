//! placeholder (NSS engineer)
