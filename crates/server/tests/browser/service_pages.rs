//! Issue 15: see the module list in main.rs.
