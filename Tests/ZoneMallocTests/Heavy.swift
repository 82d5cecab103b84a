// Heavy.swift: the parent suite of the tests that load the machine (multithreaded
// stress programs, compilers, interpreters). `.serialized` makes its nested suites run
// one test at a time, so on a 2-core machine they neither starve each other nor time
// out; the light tests still run in parallel beside them.
import Testing

@Suite(.serialized)
enum Heavy {}
