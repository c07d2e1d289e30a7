//! The integration tests: the real `portaudit` binary, driven end to end.
//!
//! - `fixtures`: proc trees captured from a live kernel, read through `--proc-root`;
//! - `live`: real sockets bound by the test itself on ephemeral ports;
//! - `daemon`: a real memcached in a network namespace of its own (root).

mod netns;
mod util;

mod daemon;
mod fixtures;
mod hostile;
mod live;
mod names;
mod privilege;
