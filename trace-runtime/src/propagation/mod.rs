//! Carrying a trace across process boundaries in HTTP headers.
