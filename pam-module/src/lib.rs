//! placeholder (PAM engineer)
