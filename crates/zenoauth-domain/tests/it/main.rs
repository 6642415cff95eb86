//! Use-case tests: the domain's services over the memory store and the real
//! crypto adapters, with a fixed clock.

mod bootstrap;
