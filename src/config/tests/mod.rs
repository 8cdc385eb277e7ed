//! Tests of the configuration loader.
